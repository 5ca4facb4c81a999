import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ORCHESTRATOR_TEMPLATE, DEFAULT_WORKER_TEMPLATE } from '../../src/shared/templates/default-templates.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
beforeAll(async () => {
  for (let i = 0; i < 50 && (await h.req('GET', '/api/v1/templates')).body.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
});

const ROLE_ERROR = { error: true, code: 'VALIDATION_ERROR', message: 'Invalid role. Must be "worker" or "orchestrator"' };

describe('seeded defaults (contract 01 "Template")', () => {
  it('start-up seeds exactly one default per role with the built-in content', async () => {
    const list = (await h.req('GET', '/api/v1/templates')).body;
    expect(list.map((t: { name: string; role: string; isDefault: boolean }) => [t.name, t.role, t.isDefault])).toEqual([
      ['Default Worker Template', 'worker', true],
      ['Default Orchestrator Template', 'orchestrator', true],
    ]);
    expect(list[0].content).toBe(DEFAULT_WORKER_TEMPLATE);
    expect(list[1].content).toBe(DEFAULT_ORCHESTRATOR_TEMPLATE);
    expect(list[0].id).toMatch(/^tmpl_\d+_[0-9a-z]{1,9}$/);
  });

  it('seeding again, 10 times concurrently, still leaves one default per role', async () => {
    await Promise.all(Array.from({ length: 10 }, () => h.api.deps.stores.templates.seedDefaults()));
    const list = (await h.req('GET', '/api/v1/templates')).body;
    expect(list.filter((t: { isDefault: boolean }) => t.isDefault)).toHaveLength(2);
  });
});

describe('GET /templates/default/:role and /templates/role/:role', () => {
  it('default/:role returns the built-in text without touching storage', async () => {
    expect((await h.req('GET', '/api/v1/templates/default/worker')).body).toEqual({ role: 'worker', content: DEFAULT_WORKER_TEMPLATE });
    expect((await h.req('GET', '/api/templates/default/orchestrator')).body).toEqual({ role: 'orchestrator', content: DEFAULT_ORCHESTRATOR_TEMPLATE });
  });

  it('a bad role is a 400 with the route-level envelope (no statusCode)', async () => {
    for (const path of ['/api/v1/templates/default/boss', '/api/v1/templates/role/boss']) {
      const r = await h.req('GET', path);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject(ROLE_ERROR);
      expect(r.body).not.toHaveProperty('statusCode');
    }
  });

  it('role/:role returns the first template of that role in creation order (the default)', async () => {
    await h.req('POST', '/api/v1/templates', { name: 'Custom', role: 'worker', content: 'c' });
    const r = await h.req('GET', '/api/v1/templates/role/worker');
    expect(r.body.name).toBe('Default Worker Template');
  });
});

describe('template CRUD', () => {
  it('POST creates a custom template (201, isDefault false); GET by id returns it', async () => {
    const r = await h.req('POST', '/api/v1/templates', { name: 'Mine', role: 'orchestrator', content: 'hello ${TASK_ID}', extra: 1 });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'Mine', role: 'orchestrator', content: 'hello ${TASK_ID}', isDefault: false, version: 1 });
    expect(r.body).not.toHaveProperty('extra');
    expect(r.headers.get('etag')).toBe('"1"');
    expect((await h.req('GET', `/api/v1/templates/${r.body.id}`)).body).toEqual(r.body);
  });

  it('POST without name, role or content → 400 "name, role, and content are required"; bad role → 400 role', async () => {
    for (const body of [{ role: 'worker', content: 'x' }, { name: 'n', content: 'x' }, { name: 'n', role: 'worker' }, { name: '', role: 'worker', content: 'x' }]) {
      const r = await h.req('POST', '/api/v1/templates', body);
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'name, role, and content are required', details: expect.any(Array) });
    }
    const bad = await h.req('POST', '/api/v1/templates', { name: 'n', role: 'boss', content: 'x' });
    expect(bad.body).toMatchObject(ROLE_ERROR);
  });

  it('PUT applies name/content (name "" stored when content is given), keeps role, bumps updatedAt/version', async () => {
    const t = (await h.req('POST', '/api/v1/templates', { name: 'A', role: 'worker', content: 'a' })).body;
    await new Promise((r) => setTimeout(r, 2));
    const r = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: '', content: 'b', role: 'orchestrator' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: '', content: 'b', role: 'worker', version: 2 });
    expect(r.body.updatedAt).toBeGreaterThan(t.updatedAt);
    const none = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: '', content: '' });
    expect(none.status).toBe(400);
    expect(none.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'At least one of name or content is required', details: expect.any(Array) });
    expect((await h.req('PUT', '/api/v1/templates/tmpl_missing', { name: 'x' })).status).toBe(404);
    const stale = await h.req('PUT', `/api/v1/templates/${t.id}`, { name: 'x' }, { 'If-Match': '"1"' });
    expect(stale.status).toBe(412);
  });

  it('reset restores the built-in content of its role and keeps name and isDefault', async () => {
    const t = (await h.req('POST', '/api/v1/templates', { name: 'Keep me', role: 'orchestrator', content: 'custom' })).body;
    const r = await h.req('POST', `/api/v1/templates/${t.id}/reset`);
    expect(r.body).toMatchObject({ name: 'Keep me', isDefault: false, content: DEFAULT_ORCHESTRATOR_TEMPLATE });
    expect((await h.req('POST', '/api/v1/templates/tmpl_missing/reset')).status).toBe(404);
  });

  it('DELETE removes a custom template; a default one → 500 with the original message; unknown → 404', async () => {
    const t = (await h.req('POST', '/api/v1/templates', { name: 'Gone', role: 'worker', content: 'x' })).body;
    expect((await h.req('DELETE', `/api/v1/templates/${t.id}`)).body).toEqual({ success: true, id: t.id });
    expect((await h.req('GET', `/api/v1/templates/${t.id}`)).status).toBe(404);
    const def = (await h.req('GET', '/api/v1/templates/role/worker')).body;
    const r = await h.req('DELETE', `/api/v1/templates/${def.id}`);
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ error: true, code: 'INTERNAL_ERROR', message: 'Cannot delete default template. Use resetToDefault instead.' });
    const missing = await h.req('DELETE', '/api/v1/templates/tmpl_missing');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe("Template with id 'tmpl_missing' not found");
  });

  it('template changes append nothing to any project stream', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'quiet' })).body;
    await h.req('POST', '/api/v1/templates', { name: 'Q', role: 'worker', content: 'x' });
    expect((await h.events(p.id)).map((e) => e.type)).toEqual(['project:created']);
  });
});
