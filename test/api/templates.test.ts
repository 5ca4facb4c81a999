import { beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/shared/errors.js';
import { DEFAULT_ORCHESTRATOR_TEMPLATE, DEFAULT_WORKER_TEMPLATE } from '../../src/shared/templates/default-templates.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

type T = { id: string; name: string; role: string; content: string; isDefault: boolean; createdAt: number; updatedAt: number; version: number };

/** Waits until the replica's start-up seeding has written both defaults. */
async function seeded(x: Pick<Harness, 'req'>): Promise<T[]> {
  for (let i = 0; i < 200; i++) {
    const list = (await x.req('GET', '/api/v1/templates')).body as T[];
    if (list.filter((t) => t.isDefault).length >= 2) return list;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('defaults never seeded');
}

beforeAll(async () => {
  await seeded(h);
});

const ROLE_ERROR = { error: true, code: 'VALIDATION_ERROR', message: 'Invalid role. Must be "worker" or "orchestrator"', details: expect.any(Array) };
const REQUIRED_ERROR = { error: true, code: 'VALIDATION_ERROR', message: 'name, role, and content are required', details: expect.any(Array) };

const create = async (name: string, role = 'worker', content = 'c'): Promise<T> => {
  const r = await h.req('POST', '/api/v1/templates', { name, role, content });
  expect(r.status).toBe(201);
  return r.body as T;
};

describe('seeded defaults (contract 01 "Template")', () => {
  it('start-up seeds exactly one default per role, worker first, with the built-in content', async () => {
    const list = (await h.req('GET', '/api/v1/templates')).body as T[];
    expect(list.map((t) => [t.name, t.role, t.isDefault])).toEqual([
      ['Default Worker Template', 'worker', true],
      ['Default Orchestrator Template', 'orchestrator', true],
    ]);
    expect(list[0]!.content).toBe(DEFAULT_WORKER_TEMPLATE);
    expect(list[1]!.content).toBe(DEFAULT_ORCHESTRATOR_TEMPLATE);
    for (const t of list) {
      expect(Object.keys(t).sort()).toEqual(['content', 'createdAt', 'id', 'isDefault', 'name', 'role', 'updatedAt', 'version']);
      expect(t.id).toMatch(/^tmpl_\d+_[0-9a-z]{1,9}$/);
      expect(t).toMatchObject({ version: 1, updatedAt: t.createdAt });
    }
    expect(list[0]!.createdAt).toBeLessThan(list[1]!.createdAt);
  });

  it('seeding again, 10 times concurrently, leaves the same single default per role', async () => {
    const before = (await h.req('GET', '/api/v1/templates')).body as T[];
    await Promise.all(Array.from({ length: 10 }, () => h.api.deps.stores.templates.seedDefaults()));
    const after = (await h.req('GET', '/api/v1/templates')).body as T[];
    expect(after.filter((t) => t.isDefault)).toEqual(before.filter((t) => t.isDefault));
  });

  it('three replicas starting at once on one fresh prefix seed exactly one default per role', async () => {
    const prefix = `tseed${Date.now().toString(36)}:`;
    const replicas = await Promise.all([1, 2, 3].map(() => startHarness(h.testRedis.url, { MAESTRO_REDIS_PREFIX: prefix })));
    try {
      // start-up seeding on every replica, plus explicit seeding from all three at once
      await seeded(replicas[0]!);
      await Promise.all(replicas.flatMap((r) => Array.from({ length: 5 }, () => r.api.deps.stores.templates.seedDefaults())));
      const lists = await Promise.all(replicas.map(async (r) => (await r.req('GET', '/api/v1/templates')).body as T[]));
      expect(lists[0]!.map((t) => [t.role, t.isDefault])).toEqual([
        ['worker', true],
        ['orchestrator', true],
      ]);
      expect(lists[1]).toEqual(lists[0]);
      expect(lists[2]).toEqual(lists[0]);

      // a role without any template: the role route 404s, and seeding creates its default again
      const orch = lists[0]![1]!;
      await replicas[0]!.redis.del(`${prefix}{templates}:t:${orch.id}`, `${prefix}{templates}:role:orchestrator`);
      await replicas[0]!.redis.zremrangebylex(`${prefix}{templates}:index`, '-', '+');
      const missing = await replicas[1]!.req('GET', '/api/v1/templates/role/orchestrator');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ error: true, code: 'NOT_FOUND', message: "Template with id 'role:orchestrator' not found" });
      await Promise.all(replicas.map((r) => r.api.deps.stores.templates.seedDefaults()));
      const again = (await replicas[2]!.req('GET', '/api/v1/templates/role/orchestrator')).body as T;
      expect(again).toMatchObject({ name: 'Default Orchestrator Template', isDefault: true, content: DEFAULT_ORCHESTRATOR_TEMPLATE });
      expect(again.id).not.toBe(orch.id);
      const worker = (await replicas[2]!.req('GET', '/api/v1/templates/role/worker')).body as T;
      expect(worker.id).toBe(lists[0]![0]!.id); // the worker role still had its template: not re-seeded
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });
});

describe('GET /templates/default/:role and /templates/role/:role', () => {
  it('default/:role returns the built-in text (both /api/v1 and /api)', async () => {
    expect((await h.req('GET', '/api/v1/templates/default/worker')).body).toEqual({ role: 'worker', content: DEFAULT_WORKER_TEMPLATE });
    expect((await h.req('GET', '/api/templates/default/orchestrator')).body).toEqual({ role: 'orchestrator', content: DEFAULT_ORCHESTRATOR_TEMPLATE });
  });

  it('a bad role is a 400 with the route-level envelope (no statusCode)', async () => {
    for (const path of ['/api/v1/templates/default/boss', '/api/v1/templates/role/boss', '/api/templates/role/Worker']) {
      const r = await h.req('GET', path);
      expect(r.status).toBe(400);
      expect(r.body).toEqual(ROLE_ERROR);
    }
  });

  it('role/:role returns the first template of that role in creation order (the default), with its ETag', async () => {
    await create('Custom worker');
    const r = await h.req('GET', '/api/v1/templates/role/worker');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'Default Worker Template', role: 'worker', isDefault: true, content: DEFAULT_WORKER_TEMPLATE });
    expect(r.headers.get('etag')).toBe(`"${r.body.version}"`);
    expect((await h.req('GET', '/api/templates/role/orchestrator')).body.name).toBe('Default Orchestrator Template');
  });
});

describe('template CRUD', () => {
  it('POST creates a custom template (201, isDefault false, unknown keys dropped); GET by id returns it', async () => {
    const r = await h.req('POST', '/api/v1/templates', { name: 'Mine', role: 'orchestrator', content: 'hello ${TASK_ID}', isDefault: true, extra: 1 });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'Mine', role: 'orchestrator', content: 'hello ${TASK_ID}', isDefault: false, version: 1 });
    expect(r.body.id).toMatch(/^tmpl_\d+_[0-9a-z]{1,9}$/);
    expect(r.body.updatedAt).toBe(r.body.createdAt);
    expect(r.body).not.toHaveProperty('extra');
    expect(r.headers.get('etag')).toBe('"1"');
    const got = await h.req('GET', `/api/templates/${r.body.id}`);
    expect(got.body).toEqual(r.body);
    expect(got.headers.get('etag')).toBe('"1"');
  });

  it('GET /templates/:id of an unknown id → 404 NOT_FOUND with the original message', async () => {
    const r = await h.req('GET', '/api/v1/templates/tmpl_missing');
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: true, code: 'NOT_FOUND', message: "Template with id 'tmpl_missing' not found" });
  });

  it('POST without a truthy name, role or content → 400 "name, role, and content are required" (before the role check); bad role → 400 role', async () => {
    for (const body of [
      { role: 'worker', content: 'x' },
      { name: 'n', content: 'x' },
      { name: 'n', role: 'worker' },
      { name: '', role: 'worker', content: 'x' },
      { name: 'n', role: '', content: 'x' },
      { name: 'n', role: 'worker', content: '' },
      { name: 'n', role: 'boss' },
      undefined,
    ]) {
      const r = await h.req('POST', '/api/v1/templates', body);
      expect(r.status).toBe(400);
      expect(r.body).toEqual(REQUIRED_ERROR);
    }
    const bad = await h.req('POST', '/api/v1/templates', { name: 'n', role: 'boss', content: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual(ROLE_ERROR);
  });

  it('GET /templates lists in creation order as a plain array and pages with limit/cursor', async () => {
    const made = [await create('P1'), await create('P2', 'orchestrator'), await create('P3')];
    const all = await h.req('GET', '/api/v1/templates');
    expect(Array.isArray(all.body)).toBe(true);
    const ids = (all.body as T[]).map((t) => t.id);
    expect(ids.slice(-3)).toEqual(made.map((t) => t.id));
    expect(all.headers.get('x-total-count')).toBe(String(ids.length));
    const paged: string[] = [];
    let url: string | null = '/api/v1/templates?limit=2';
    while (url) {
      const r = await h.req('GET', url);
      expect(r.body.length).toBeLessThanOrEqual(2);
      paged.push(...(r.body as T[]).map((t) => t.id));
      const next = r.headers.get('x-next-cursor');
      if (next) expect(r.headers.get('link')).toContain('rel="next"');
      url = next ? `/api/v1/templates?limit=2&cursor=${next}` : null;
    }
    expect(paged).toEqual(ids);
  });

  it('PUT applies name/content (name "" stored when content is given), keeps role, bumps updatedAt/version', async () => {
    const t = await create('A', 'worker', 'a');
    await new Promise((r) => setTimeout(r, 2));
    const r = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: '', content: 'b', role: 'orchestrator', isDefault: true });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: t.id, name: '', content: 'b', role: 'worker', isDefault: false, version: 2, createdAt: t.createdAt });
    expect(r.body.updatedAt).toBeGreaterThan(t.updatedAt);
    expect(r.headers.get('etag')).toBe('"2"');
    const nameOnly = await h.req('PUT', `/api/templates/${t.id}`, { name: 'Renamed' });
    expect(nameOnly.body).toMatchObject({ name: 'Renamed', content: 'b', version: 3 });
    expect((await h.req('GET', `/api/v1/templates/${t.id}`)).body).toEqual(nameOnly.body);
  });

  it('PUT errors: both falsy → 400 route-level (even for an unknown id); unknown id → 404; stale If-Match → 412', async () => {
    const t = await create('B');
    for (const body of [{ name: '', content: '' }, {}, undefined]) {
      const none = await h.req('PUT', `/api/v1/templates/${t.id}`, body);
      expect(none.status).toBe(400);
      expect(none.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'At least one of name or content is required', details: expect.any(Array) });
    }
    expect((await h.req('PUT', '/api/v1/templates/tmpl_missing', {})).status).toBe(400);
    const missing = await h.req('PUT', '/api/v1/templates/tmpl_missing', { name: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe("Template with id 'tmpl_missing' not found");
    const ok = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: 'x' }, { 'If-Match': '"1"' });
    expect(ok.body.version).toBe(2);
    const stale = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: 'y' }, { 'If-Match': '"1"' });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('PRECONDITION_FAILED');
    expect((await h.req('GET', `/api/v1/templates/${t.id}`)).body.name).toBe('x');
  });

  it('concurrent PUTs without If-Match all apply (version counts every change)', async () => {
    const t = await create('C');
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => h.req('PUT', `/api/v1/templates/${t.id}`, { content: `v${i}` })));
    expect(rs.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(rs.map((r) => r.body.version)).size).toBe(10);
    expect((await h.req('GET', `/api/v1/templates/${t.id}`)).body.version).toBe(11);
  });

  it('reset restores the built-in content of its role, keeps name and isDefault, bumps version; 404; 412', async () => {
    const t = await create('Keep me', 'orchestrator', 'custom');
    const r = await h.req('POST', `/api/v1/templates/${t.id}/reset`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: t.id, name: 'Keep me', role: 'orchestrator', isDefault: false, content: DEFAULT_ORCHESTRATOR_TEMPLATE, version: 2 });
    expect(r.headers.get('etag')).toBe('"2"');

    const def = (await h.req('GET', '/api/v1/templates/role/worker')).body as T;
    await h.req('PUT', `/api/v1/templates/${def.id}`, { content: 'edited default' });
    const back = await h.req('POST', `/api/templates/${def.id}/reset`);
    expect(back.body).toMatchObject({ id: def.id, name: 'Default Worker Template', isDefault: true, content: DEFAULT_WORKER_TEMPLATE });

    const missing = await h.req('POST', '/api/v1/templates/tmpl_missing/reset');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe("Template with id 'tmpl_missing' not found");
    expect((await h.req('POST', `/api/v1/templates/${t.id}/reset`, undefined, { 'If-Match': '"1"' })).status).toBe(412);
  });

  it('DELETE removes a custom template from the list and the role; unknown → 404; stale If-Match → 412', async () => {
    const t = await create('Gone', 'worker', 'x');
    expect((await h.req('DELETE', `/api/v1/templates/${t.id}`, undefined, { 'If-Match': '"7"' })).status).toBe(412);
    const r = await h.req('DELETE', `/api/v1/templates/${t.id}`, undefined, { 'If-Match': '"1"' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, id: t.id });
    expect((await h.req('GET', `/api/v1/templates/${t.id}`)).status).toBe(404);
    expect(((await h.req('GET', '/api/v1/templates?limit=1000')).body as T[]).map((x) => x.id)).not.toContain(t.id);

    const u = await create('Gone too', 'orchestrator', 'x');
    expect((await h.req('DELETE', `/api/templates/${u.id}`)).body).toEqual({ success: true, id: u.id });
    const missing = await h.req('DELETE', `/api/v1/templates/${u.id}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: true, code: 'NOT_FOUND', message: `Template with id '${u.id}' not found` });
  });

  it('DELETE of a default template → 500 INTERNAL_ERROR with the original message, and it stays', async () => {
    for (const role of ['worker', 'orchestrator']) {
      const def = (await h.req('GET', `/api/v1/templates/role/${role}`)).body as T;
      const r = await h.req('DELETE', `/api/v1/templates/${def.id}`);
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: true, code: 'INTERNAL_ERROR', message: 'Cannot delete default template. Use resetToDefault instead.' });
      expect((await h.req('GET', `/api/v1/templates/${def.id}`)).status).toBe(200);
    }
  });

  it('a read-only principal may read but not write', async () => {
    const store = h.api.deps.stores.templates;
    const ro = { id: 'ro', kind: 'apiKey' as const, admin: false, readOnly: true };
    const def = await store.getByRole(ro, 'worker');
    expect(JSON.parse(def.json).name).toBe('Default Worker Template');
    await expect(store.create(ro, { name: 'n', role: 'worker', content: 'c' })).rejects.toBeInstanceOf(ForbiddenError);
    await expect(store.reset(ro, JSON.parse(def.json).id)).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('template changes append nothing to any project stream', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'quiet' })).body;
    const t = await create('Q');
    await h.req('PUT', `/api/v1/templates/${t.id}`, { name: 'Q2' });
    await h.req('DELETE', `/api/v1/templates/${t.id}`);
    expect((await h.events(p.id)).map((e) => e.type)).toEqual(['project:created']);
  });
});

describe('POST /templates with whitespace-only values', () => {
  it('accepts them: the original only requires truthy name, role and content (contract 02)', async () => {
    const r = await h.req('POST', '/api/v1/templates', { name: '  ', role: 'worker', content: ' ' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: '  ', content: ' ', isDefault: false });
  });
});
