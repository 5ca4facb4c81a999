import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';
import { rawGet } from '../helpers/processes.js';

const h = useHarness();
let pid: string;
beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'conventions' })).body.id;
});

describe('request bodies (contract 00 "Input", 02 D58)', () => {
  it('malformed JSON → 400 VALIDATION_ERROR', async () => {
    const r = await h.req('POST', '/api/v1/projects', '{"name": ', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: true, code: 'VALIDATION_ERROR' });
  });

  it('a missing body or a non-JSON content type is treated as {}', async () => {
    const none = await fetch(`${h.base}/api/v1/projects`, { method: 'POST' });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { message: string }).message).toBe('Project name is required');
    const text = await fetch(`${h.base}/api/v1/sessions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(((await text.json()) as { message: string }).message).toBe('taskIds is required');
  });

  it('a body over 1 MiB → 413 PAYLOAD_TOO_LARGE', async () => {
    const r = await h.req('POST', '/api/v1/projects', { name: 'x', description: 'y'.repeat(1024 * 1024 + 10) });
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ error: true, code: 'PAYLOAD_TOO_LARGE', message: 'Request body too large' });
  });

  it('a description over 100 KiB → 400 with the field path', async () => {
    const r = await h.req('POST', '/api/v1/projects', { name: 'x', description: 'y'.repeat(100 * 1024 + 1) });
    expect(r.status).toBe(400);
    expect(r.body.details[0].path).toBe('body.description');
  });

  it('unknown fields are ignored and never stored', async () => {
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't', hack: { admin: true } })).body;
    expect(t).not.toHaveProperty('hack');
    const fields = await h.redis.hkeys(`${h.prefix}{${pid}}:task:${t.id}`);
    expect(fields).not.toContain('hack');
  });

  it('error bodies never carry a stack trace', async () => {
    const r = await h.req('POST', '/api/v1/projects', '{bad', { 'content-type': 'application/json' });
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.(js|ts):\d+|node_modules|\/work\//);
  });
});

describe('malformed paths', () => {
  it('a path that is not valid URI encoding → 400 VALIDATION_ERROR, not a 500', async () => {
    const raw = await rawGet(h.api.port, '/api/v1/projects/%E0%A4%A');
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body)).toMatchObject({ error: true, code: 'VALIDATION_ERROR', message: 'Malformed request' });
  });
});

describe('routes', () => {
  it('an unknown route → JSON 404 NOT_FOUND', async () => {
    const r = await h.req('GET', '/api/v1/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: true, code: 'NOT_FOUND', message: 'Cannot GET /api/v1/nothing-here' });
  });

  it('/api and /api/v1 answer the same', async () => {
    const a = await h.req('GET', `/api/projects/${pid}`);
    const b = await h.req('GET', `/api/v1/projects/${pid}`);
    expect(a.body).toEqual(b.body);
  });

  it('GET /health → {status:"ok", timestamp, uptime} (+ additive fields); ?deep=1 adds Redis RTT, memory, event loop', async () => {
    const r = await h.req('GET', '/health');
    expect(r.body).toMatchObject({ status: 'ok', timestamp: expect.any(Number), uptime: expect.any(Number) });
    const deep = await h.req('GET', '/health?deep=1');
    expect(deep.body.redis).toEqual({ ok: true, rttMs: expect.any(Number) });
    expect(deep.body.memory.rssBytes).toBeGreaterThan(0);
    expect(deep.body.eventLoopDelayMs).toBeDefined();
  });

  it('GET /ready → 200 while Redis answers', async () => {
    expect((await h.req('GET', '/ready')).status).toBe(200);
  });

  it('CORS allows every origin by default, preflight 204', async () => {
    const res = await fetch(`${h.base}/api/v1/projects`, { method: 'OPTIONS', headers: { origin: 'http://ui.local', 'access-control-request-method': 'POST' } });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('X-Request-Id is echoed, or generated', async () => {
    const r = await h.req('GET', '/health', undefined, { 'x-request-id': 'abc-123' });
    expect(r.headers.get('x-request-id')).toBe('abc-123');
    expect((await h.req('GET', '/health')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('versions, ETag and If-Match (contract 00 "Concurrency")', () => {
  it('responses carry ETag "<version>"; a stale If-Match → 412 PRECONDITION_FAILED and nothing changes', async () => {
    const p = await h.req('POST', '/api/v1/projects', { name: 'v' });
    expect(p.headers.get('etag')).toBe('"1"');
    const ok = await h.req('PUT', `/api/v1/projects/${p.body.id}`, { name: 'v2' }, { 'If-Match': '"1"' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('"2"');
    const stale = await h.req('PUT', `/api/v1/projects/${p.body.id}`, { name: 'v3' }, { 'If-Match': '"1"' });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ error: true, code: 'PRECONDITION_FAILED' });
    expect((await h.req('GET', `/api/v1/projects/${p.body.id}`)).body.name).toBe('v2');
  });

  it('If-Match on PATCH task, PATCH session and DELETE', async () => {
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' })).body;
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'x' }, { 'If-Match': '"9"' })).status).toBe(412);
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'x' }, { 'If-Match': '"1"' })).status).toBe(200);
    const s = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body;
    expect((await h.req('PATCH', `/api/v1/sessions/${s.id}`, { status: 'working' }, { 'If-Match': 'W/"5"' })).status).toBe(412);
    expect((await h.req('PATCH', `/api/v1/sessions/${s.id}`, { status: 'working' }, { 'If-Match': '1' })).status).toBe(200);
    expect((await h.req('DELETE', `/api/v1/tasks/${t.id}`, undefined, { 'If-Match': '"1"' })).status).toBe(412);
    expect((await h.req('DELETE', `/api/v1/tasks/${t.id}`, undefined, { 'If-Match': '"2"' })).status).toBe(200);
    expect((await h.req('DELETE', `/api/v1/sessions/${s.id}`, undefined, { 'If-Match': '"1"' })).status).toBe(412);
    expect((await h.req('DELETE', `/api/v1/sessions/${s.id}`, undefined, { 'If-Match': '*' })).status).toBe(200);
  });
});

describe('Idempotency-Key (contract 00)', () => {
  it('a retry with the same key and body replays the first response and creates nothing new', async () => {
    const key = { 'Idempotency-Key': 'create-task-1' };
    const first = await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'once' }, key);
    const before = (await h.events(pid)).length;
    const again = await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'once' }, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await h.events(pid)).length).toBe(before);
    const viaAlias = await h.req('POST', '/api/tasks', { projectId: pid, title: 'once' }, key);
    expect(viaAlias.body).toEqual(first.body);
  });

  it('the same key with another body → 409 CONFLICT', async () => {
    const key = { 'Idempotency-Key': 'create-task-2' };
    await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'a' }, key);
    const r = await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'b' }, key);
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('CONFLICT');
  });

  it('a keyed POST to a path no route serves is a 404, every time (it went through the chain twice: 409)', async () => {
    const key = { 'Idempotency-Key': 'nowhere-1' };
    for (let i = 0; i < 2; i++) {
      const r = await h.req('POST', '/api/v1/nowhere', { a: 1 }, key);
      expect(r.status).toBe(404);
      expect(r.body.code).toBe('NOT_FOUND');
    }
  });

  it('a 4xx first response is replayed too', async () => {
    const key = { 'Idempotency-Key': 'bad-1' };
    const first = await h.req('POST', '/api/v1/tasks', { projectId: pid }, key);
    const again = await h.req('POST', '/api/v1/tasks', { projectId: pid }, key);
    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
  });
});
