import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { useHarness } from '../helpers/use-harness.js';

/** Contract 08 "Dependencies" and "Ready work" (issue 15). */
const h = useHarness();
let other: Harness;
let pid: string;

beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'graph' })).body.id;
  // a second replica on the same Redis and prefix
  other = await startHarness(h.testRedis.url, { MAESTRO_REDIS_PREFIX: h.prefix });
});
afterAll(async () => {
  await other?.close();
});

const task = async (body: Record<string, unknown> = {}, projectId = pid) => {
  const r = await h.req('POST', '/api/v1/tasks', { projectId, title: 't', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
};
const get = async (id: string) => (await h.req('GET', `/api/v1/tasks/${id}`)).body;
const readyIds = async (projectId = pid, q = '') => (await h.req('GET', `/api/v1/tasks/ready?projectId=${projectId}${q}`)).body.map((t: { id: string }) => t.id);

describe('dependencies (contract 08)', () => {
  it('are stored on create, with the derived blockedBy and dependents; a blocked task is not ready', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'g1' })).body.id;
    const a = await task({}, p);
    const b = await task({ dependencies: [a.id] }, p);
    expect(b).toMatchObject({ dependencies: [a.id], blockedBy: [a.id], dependents: [], claimedBy: null });
    expect(await get(a.id)).toMatchObject({ dependencies: [], blockedBy: [], dependents: [b.id] });
    expect(await readyIds(p)).toEqual([a.id]);
  });

  it('completing the last unfinished dependency unblocks the task in the same step, with its task:updated', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'g2' })).body.id;
    const [a, b] = [await task({}, p), await task({}, p)];
    const c = await task({ dependencies: [a.id, b.id] }, p);
    await h.req('PATCH', `/api/v1/tasks/${a.id}`, { status: 'completed' });
    expect((await get(c.id)).blockedBy).toEqual([b.id]);
    const before = (await h.events(p)).length;
    await h.req('PATCH', `/api/v1/tasks/${b.id}`, { status: 'completed' });
    const after = (await h.events(p)).slice(before);
    // b's update and c's, in one commit (consecutive stream entries of the same request)
    expect(after.map((e) => [e.type, e.data.id])).toEqual([
      ['task:updated', c.id],
      ['task:updated', b.id],
    ]);
    expect(after[0]!.data.blockedBy).toEqual([]);
    expect(await readyIds(p)).toEqual([c.id]);
    // reopening a dependency blocks it again
    await h.req('PATCH', `/api/v1/tasks/${b.id}`, { status: 'todo' });
    expect((await get(c.id)).blockedBy).toEqual([b.id]);
    expect(await readyIds(p)).toEqual([b.id]);
  });

  it('refuses an unknown id, a task of another project, itself and a cycle (400), changing nothing', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'g3' })).body.id;
    const q = (await h.req('POST', '/api/v1/projects', { name: 'g3-other' })).body.id;
    const [a, b] = [await task({}, p), await task({}, p)];
    const elsewhere = await task({}, q);
    for (const dep of ['task_nope', elsewhere.id, a.id]) {
      const r = await h.req('POST', `/api/v1/tasks/${a.id}/dependencies`, { taskId: dep });
      expect(r.status, dep).toBe(400);
      expect(r.body.code).toBe('VALIDATION_ERROR');
    }
    expect((await h.req('POST', '/api/v1/tasks', { projectId: p, title: 'x', dependencies: ['task_nope'] })).status).toBe(400);
    expect((await h.req('POST', `/api/v1/tasks/${b.id}/dependencies`, { taskId: a.id })).status).toBe(200);
    const cycle = await h.req('PATCH', `/api/v1/tasks/${a.id}`, { dependencies: [b.id] });
    expect(cycle.status).toBe(400);
    expect(cycle.body.message).toBe(`dependencies would make a cycle: ${a.id} → ${b.id} → ${a.id}`);
    expect(await get(a.id)).toMatchObject({ dependencies: [], dependents: [b.id], version: a.version + 1 });
  });

  it('two concurrent opposite edges on two replicas: exactly one lands (20 trials)', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'g4' })).body.id;
    for (let i = 0; i < 20; i++) {
      const [a, b] = [await task({}, p), await task({}, p)];
      const [r1, r2] = await Promise.all([
        h.req('POST', `/api/v1/tasks/${a.id}/dependencies`, { taskId: b.id }),
        other.req('POST', `/api/v1/tasks/${b.id}/dependencies`, { taskId: a.id }),
      ]);
      expect([r1.status, r2.status].sort()).toEqual([200, 400]);
      const [ga, gb] = [await get(a.id), await get(b.id)];
      expect(ga.dependencies.length + gb.dependencies.length).toBe(1);
    }
  });

  it('removing a dependency and deleting a task keep both sides in step', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'g5' })).body.id;
    const a = await task({}, p);
    const b = await task({ dependencies: [a.id] }, p);
    const c = await task({ dependencies: [a.id] }, p);
    const r = await h.req('DELETE', `/api/v1/tasks/${b.id}/dependencies/${a.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ dependencies: [], blockedBy: [] });
    expect((await get(a.id)).dependents).toEqual([c.id]);
    await h.req('DELETE', `/api/v1/tasks/${a.id}`);
    expect(await get(c.id)).toMatchObject({ dependencies: [], blockedBy: [] });
    expect(await readyIds(p)).toEqual([b.id, c.id]);
  });
});

describe('GET /tasks/ready (contract 08)', () => {
  it('lists todo tasks that are not blocked, high → medium → low, then creation order, paged', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'ready' })).body.id;
    const low = await task({ priority: 'low' }, p);
    const med1 = await task({}, p);
    const high = await task({ priority: 'high' }, p);
    const med2 = await task({}, p);
    const done = await task({}, p);
    await h.req('PATCH', `/api/v1/tasks/${done.id}`, { status: 'completed' });
    expect(await readyIds(p)).toEqual([high.id, med1.id, med2.id, low.id]);
    const first = await h.req('GET', `/api/v1/tasks/ready?projectId=${p}&limit=2`);
    expect(first.body.map((t: { id: string }) => t.id)).toEqual([high.id, med1.id]);
    const cursor = first.headers.get('x-next-cursor');
    expect(await readyIds(p, `&limit=2&cursor=${cursor}`)).toEqual([med2.id, low.id]);
    // a priority change moves it; in_progress leaves the list
    await h.req('PATCH', `/api/v1/tasks/${low.id}`, { priority: 'high' });
    await h.req('PATCH', `/api/v1/tasks/${med1.id}`, { status: 'in_progress' });
    expect(await readyIds(p)).toEqual([low.id, high.id, med2.id]); // both high now: creation order
    expect((await h.req('GET', '/api/v1/tasks/ready')).status).toBe(400);
  });
});
