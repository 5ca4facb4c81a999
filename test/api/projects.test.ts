import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

const create = async (body: unknown) => (await h.req('POST', '/api/v1/projects', body)).body;

describe('POST /projects', () => {
  it('creates a project: 201, name trimmed, defaults, server fields, unknown keys ignored', async () => {
    const r = await h.req('POST', '/api/projects', { name: '  My App  ', evil: 1, id: 'proj_forged', createdAt: 1 });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^proj_\d+_[0-9a-z]{1,9}$/),
      name: 'My App',
      workingDir: '',
      description: '',
      createdAt: expect.any(Number),
      updatedAt: r.body.createdAt,
      version: 1,
    });
    expect(r.body.id).not.toBe('proj_forged');
    expect((await h.req('GET', `/api/projects/${r.body.id}`)).body).toEqual(r.body);
  });

  it('keeps workingDir, description and a metadata object', async () => {
    const p = await create({ name: 'x', workingDir: '/src/x', description: 'd', metadata: { color: 'red' } });
    expect(p).toMatchObject({ workingDir: '/src/x', description: 'd', metadata: { color: 'red' } });
  });

  it.each([[{}], [{ name: '' }], [{ name: '   ' }], [{ name: 42 }]])('400 "Project name is required" for %j, envelope with statusCode and details', async (body) => {
    const r = await h.req('POST', '/api/v1/projects', body);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: true, statusCode: 400, code: 'VALIDATION_ERROR', message: 'Project name is required' });
    expect(r.body.details[0]).toEqual({ path: 'body.name', message: 'Project name is required' });
  });

  it('a name over 500 characters is a 400', async () => {
    const r = await h.req('POST', '/api/v1/projects', { name: 'x'.repeat(501) });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('VALIDATION_ERROR');
  });

  it('emits project:created with the project; a failed request emits nothing', async () => {
    const p = await create({ name: 'evented' });
    expect(await h.events(p.id)).toEqual([{ id: expect.any(String), type: 'project:created', data: p }]);
  });
});

describe('GET /projects and /projects/:id', () => {
  it('lists in creation order', async () => {
    const a = await create({ name: 'first' });
    const b = await create({ name: 'second' });
    const ids = ((await h.req('GET', '/api/v1/projects?limit=1000')).body as { id: string }[]).map((p) => p.id);
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
  });

  it('unknown id → 404 NOT_FOUND "Project with id \'…\' not found"', async () => {
    const r = await h.req('GET', '/api/v1/projects/proj_nope');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: true, statusCode: 404, code: 'NOT_FOUND', message: "Project with id 'proj_nope' not found" });
  });
});

describe('PUT /projects/:id', () => {
  it('merges the given fields, bumps updatedAt and version, keeps id and createdAt, emits project:updated', async () => {
    const p = await create({ name: 'before', description: 'keep' });
    await new Promise((r) => setTimeout(r, 2));
    const r = await h.req('PUT', `/api/v1/projects/${p.id}`, { name: 'after', id: 'x', createdAt: 5, evil: true });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: p.id, name: 'after', description: 'keep', createdAt: p.createdAt, version: 2 });
    expect(r.body).not.toHaveProperty('evil');
    expect(r.body.updatedAt).toBeGreaterThan(p.updatedAt);
    const only = await h.req('PUT', `/api/v1/projects/${p.id}`, { description: 'new' });
    expect(only.body.name).toBe('after');
    const evs = await h.events(p.id);
    expect(evs.map((e) => e.type)).toEqual(['project:created', 'project:updated', 'project:updated']);
    expect(evs[2]!.data).toEqual(only.body);
  });

  it('blank name → 400 "Project name cannot be empty", checked before existence', async () => {
    for (const id of ['proj_nope', (await create({ name: 'n' })).id]) {
      const r = await h.req('PUT', `/api/v1/projects/${id}`, { name: ' ' });
      expect(r.status).toBe(400);
      expect(r.body.message).toBe('Project name cannot be empty');
    }
  });

  it('unknown id → 404', async () => {
    expect((await h.req('PUT', '/api/v1/projects/proj_nope', { description: 'x' })).status).toBe(404);
  });
});

describe('DELETE /projects/:id', () => {
  it('→ {success:true,id}, then GET 404; emits project:deleted {id}', async () => {
    const p = await create({ name: 'gone' });
    const r = await h.req('DELETE', `/api/v1/projects/${p.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, id: p.id });
    expect((await h.req('GET', `/api/v1/projects/${p.id}`)).status).toBe(404);
    expect((await h.events(p.id)).at(-1)).toMatchObject({ type: 'project:deleted', data: { id: p.id } });
    expect((await h.req('DELETE', `/api/v1/projects/${p.id}`)).status).toBe(404);
  });

  it('with tasks → 422 BUSINESS_RULE_ERROR (tasks checked first), with sessions only → 422 sessions', async () => {
    const p = await create({ name: 'busy' });
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' })).body;
    await h.req('POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] });
    const r = await h.req('DELETE', `/api/v1/projects/${p.id}`);
    expect(r.status).toBe(422);
    expect(r.body).toEqual({ error: true, statusCode: 422, code: 'BUSINESS_RULE_ERROR', message: 'Cannot delete project with existing tasks' });
    await h.req('DELETE', `/api/v1/tasks/${t.id}`);
    const r2 = await h.req('DELETE', `/api/v1/projects/${p.id}`);
    expect(r2.body.message).toBe('Cannot delete project with existing sessions');
    expect((await h.req('GET', `/api/v1/projects/${p.id}`)).status).toBe(200);
    expect((await h.events(p.id)).some((e) => e.type === 'project:deleted')).toBe(false);
  });
});
