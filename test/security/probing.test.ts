import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { call } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Security issue 11, items 12–15: what a tenant can learn by probing ids and emails, and inputs that
 * used to answer 500 or leave half a change behind. Every refused request must change nothing.
 */
let redis: TestRedis;
let w: AuthWorld;

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url);
});
afterAll(async () => {
  await w?.h.close();
  await redis?.stop();
});

/** Every key under the harness prefix except the ones any request touches (rate limits, idempotency). */
async function keysNow(): Promise<string[]> {
  return (await w.h.redis.keys(`${w.h.prefix}*`)).filter((k) => !/:(rl|idem):/.test(k)).sort();
}

describe('members are added by email, and the answer does not tell whether the address has an account (item 12)', () => {
  it('an existing and an unknown address get the same 201 and list the same way; the unknown one joins when it registers', async () => {
    const owner = await w.user('prober');
    const known = await w.user('known');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'throwaway' }, as(owner.token))).body;
    const byId = await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { userId: known.id, role: 'viewer' }, as(owner.token));
    expect([byId.status, byId.body.code]).toEqual([400, 'VALIDATION_ERROR']);
    const a = await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: known.email, role: 'viewer' }, as(owner.token));
    const b = await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'nobody-yet@example.com', role: 'viewer' }, as(owner.token));
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort());
    expect(a.body).toEqual({ email: known.email, role: 'viewer' });
    const list = (await w.h.req('GET', `/api/v1/projects/${p.id}/members`, undefined, as(owner.token))).body as Record<string, unknown>[];
    for (const m of list) expect(Object.keys(m).sort()).toEqual(['email', 'role']);
    expect(JSON.stringify(list)).not.toContain(known.id);
    // the invitation becomes a membership on registration
    const late = await w.user('nobody-yet');
    expect((await w.h.req('GET', `/api/v1/projects/${p.id}`, undefined, as(late.token))).status).toBe(200);
  });
});

describe('ids cannot be probed (item 13)', () => {
  it('another tenant\'s session id answers like any id that cannot be used (409), not 400 "already in use"; a free id is 201', async () => {
    const alice = await w.user('alice-13');
    const mallory = await w.user('mallory-13');
    const pa = (await w.h.req('POST', '/api/v1/projects', { name: 'alice' }, as(alice.token))).body;
    const pm = (await w.h.req('POST', '/api/v1/projects', { name: 'mallory' }, as(mallory.token))).body;
    await w.h.req('POST', '/api/v1/sessions', { id: 'alice-session', projectId: pa.id, taskIds: [] }, as(alice.token));
    const before = await keysNow();
    const taken = await w.h.req('POST', '/api/v1/sessions', { id: 'alice-session', projectId: pm.id, taskIds: [] }, as(mallory.token));
    expect([taken.status, taken.body.code]).toEqual([409, 'CONFLICT']);
    expect(taken.body.message).not.toMatch(/in use|exists|belongs|tenant|project/i);
    expect(await keysNow()).toEqual(before);
    expect((await w.h.req('GET', '/api/v1/sessions/alice-session', undefined, as(alice.token))).status).toBe(200);
    expect((await w.h.req('POST', '/api/v1/sessions', { id: 'free-id', projectId: pm.id, taskIds: [] }, as(mallory.token))).status).toBe(201);
  });

  it('projectId "constructor" or "__proto__" is a project that does not exist (404), not one the caller may not change (403)', async () => {
    const u = await w.user('proto');
    for (const pid of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const t = await w.h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' }, as(u.token));
      expect([pid, t.status]).toEqual([pid, 404]);
      const s = await w.h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] }, as(u.token));
      expect([pid, s.status]).toEqual([pid, 404]);
      expect((await w.h.req('GET', `/api/v1/projects/${pid}`, undefined, as(u.token))).status).toBe(404);
      expect((await w.h.req('GET', `/api/v1/tasks?projectId=${pid}`, undefined, as(u.token))).body).toEqual([]);
    }
  });
});

describe('ids cannot name another key, and no commit is half-applied (item 14)', () => {
  it('a session id with the key separator (X:events) is 400 and every list of the project keeps answering', async () => {
    const u = await w.user('colon');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'colon' }, as(u.token))).body;
    const t = (await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, as(u.token))).body;
    await w.h.req('POST', '/api/v1/sessions', { id: 'X', projectId: p.id, taskIds: [t.id] }, as(u.token));
    const before = await keysNow();
    for (const id of ['X:events', 'X:timeline', 'a{b}c', 'a b', '../x', ':x']) {
      const r = await w.h.req('POST', '/api/v1/sessions', { id, projectId: p.id, taskIds: [t.id] }, as(u.token));
      expect([id, r.status, r.body.code]).toEqual([id, 400, 'VALIDATION_ERROR']);
    }
    expect(await keysNow()).toEqual(before);
    expect((await w.h.req('GET', `/api/v1/sessions?projectId=${p.id}`, undefined, as(u.token))).status).toBe(200);
    expect((await w.h.req('GET', `/api/v1/tasks?projectId=${p.id}`, undefined, as(u.token))).status).toBe(200);
    expect((await w.h.req('GET', '/api/v1/sessions/X', undefined, as(u.token))).status).toBe(200);
  });

  it('a commit meeting a key of the wrong type writes nothing (409), instead of failing half-way (500)', async () => {
    const u = await w.user('wrongtype');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'wrong type' }, as(u.token))).body;
    const t = (await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, as(u.token))).body;
    // a stray string where the session's by-task index lives (as a colliding id used to leave)
    await w.h.redis.set(`${w.h.prefix}{${p.id}}:sessions:task:${t.id}`, 'not an index');
    const taskBefore = (await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(u.token))).body;
    const r = await w.h.req('POST', '/api/v1/sessions', { id: 'typed', projectId: p.id, taskIds: [t.id] }, as(u.token));
    expect([r.status, r.body.code]).toEqual([409, 'CONFLICT']);
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(u.token))).body).toEqual(taskBefore);
    expect(await w.h.redis.exists(`${w.h.prefix}{${p.id}}:session:typed`, `${w.h.prefix}lookup:session:typed`)).toBe(0);
    expect((await w.h.req('GET', `/api/v1/sessions?projectId=${p.id}`, undefined, as(u.token))).body).toEqual([]);
  });
});

describe('deep JSON and lone surrogates (item 15)', () => {
  it('a body nested 100,000 deep, or deeper than MAX_JSON_DEPTH, is 400; nothing is written', async () => {
    const u = await w.user('deep');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'deep' }, as(u.token))).body;
    const before = await keysNow();
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const metadata = `{"projectId":"${p.id}","title":"t","metadata":{"a":${'{"a":'.repeat(70)}1${'}'.repeat(70)}}}`;
    for (const body of [deep, metadata]) {
      const r = await call(w.h.base, 'POST', '/api/v1/tasks', body, as(u.token));
      expect([r.status, r.body.code]).toEqual([400, 'VALIDATION_ERROR']);
    }
    expect(await keysNow()).toEqual(before);
  });

  it('a lone surrogate in an id or a text is 400 and leaves no id claim behind', async () => {
    const u = await w.user('surrogate');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'surrogate' }, as(u.token))).body;
    const before = await keysNow();
    const bodies = [
      `{"id":"s\\ud800","projectId":"${p.id}","taskIds":[]}`,
      `{"id":"s\\udc00x","projectId":"${p.id}","taskIds":[]}`,
      `{"projectId":"${p.id}","taskIds":[],"name":"n\\ud83d"}`,
    ];
    for (const body of bodies) {
      const r = await call(w.h.base, 'POST', '/api/v1/sessions', body, as(u.token));
      expect([r.status, r.body.code]).toEqual([400, 'VALIDATION_ERROR']);
    }
    const task = await call(w.h.base, 'POST', '/api/v1/tasks', `{"projectId":"${p.id}","title":"t\\udfff"}`, as(u.token));
    expect(task.status).toBe(400);
    expect(await keysNow()).toEqual(before);
    // a proper pair is fine
    const ok = await call(w.h.base, 'POST', '/api/v1/tasks', `{"projectId":"${p.id}","title":"t\\ud83d\\ude00"}`, as(u.token));
    expect([ok.status, ok.body.title]).toEqual([201, 't😀']);
  });
});
