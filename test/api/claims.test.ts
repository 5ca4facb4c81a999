import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { useHarness } from '../helpers/use-harness.js';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/fault-kit.js';

/** Contract 08 "Claims" (issue 15). */
const h = useHarness();
let other: Harness;
let worker: ApiProcess;

beforeAll(async () => {
  other = await startHarness(h.testRedis.url, { MAESTRO_REDIS_PREFIX: h.prefix });
  worker = await startWorkerProcess(h.testRedis.url, h.prefix, { SERVER_URL: h.base, CLAIM_SWEEP_MS: '200', METRICS_PORT: '0' });
});
afterAll(async () => {
  await worker?.kill('SIGTERM');
  await other?.close();
});

const project = async (name: string) => (await h.req('POST', '/api/v1/projects', { name })).body.id as string;
const task = async (projectId: string, body: Record<string, unknown> = {}) => (await h.req('POST', '/api/v1/tasks', { projectId, title: 't', ...body })).body;
const session = async (projectId: string) => (await h.req('POST', '/api/v1/sessions', { projectId, taskIds: [] })).body.id as string;
const get = async (id: string) => (await h.req('GET', `/api/v1/tasks/${id}`)).body;

describe('claims (contract 08)', () => {
  it('a claim marks the task in_progress for the session, links them, takes it off the ready list; another session gets 409 with the holder', async () => {
    const p = await project('c1');
    const t = await task(p);
    const [s1, s2] = [await session(p), await session(p)];
    const r = await h.req('POST', `/api/v1/tasks/${t.id}/claim`, { sessionId: s1, leaseMs: 60_000 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'in_progress', claimedBy: { sessionId: s1, at: expect.any(Number), expiresAt: expect.any(Number) }, sessionIds: [s1] });
    expect(r.body.claimedBy.expiresAt - r.body.claimedBy.at).toBe(60_000);
    expect((await h.req('GET', `/api/v1/sessions/${s1}`)).body.taskIds).toEqual([t.id]);
    // linked as POST /sessions/:id/tasks/:taskId links them: with the session's task_started entry
    const timeline = (await h.req('GET', `/api/v1/sessions/${s1}/timeline?limit=10`)).body as { type: string; taskId?: string }[];
    expect(timeline.filter((e) => e.type === 'task_started').map((e) => e.taskId)).toEqual([t.id]);
    expect((await h.req('GET', `/api/v1/tasks/ready?projectId=${p}`)).body).toEqual([]);
    const taken = await h.req('POST', `/api/v1/tasks/${t.id}/claim`, { sessionId: s2 });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ code: 'CONFLICT', details: { sessionId: s1 } });
    // renew, then release: back to todo and ready
    const renewed = await h.req('POST', `/api/v1/tasks/${t.id}/claim/renew`, { sessionId: s1, leaseMs: 120_000 });
    expect(renewed.body.claimedBy.expiresAt).toBeGreaterThan(r.body.claimedBy.expiresAt);
    expect((await h.req('POST', `/api/v1/tasks/${t.id}/claim/renew`, { sessionId: s2 })).status).toBe(409);
    expect((await h.req('DELETE', `/api/v1/tasks/${t.id}/claim?sessionId=${s2}`)).status).toBe(409);
    const released = await h.req('DELETE', `/api/v1/tasks/${t.id}/claim`);
    expect(released.body).toMatchObject({ status: 'todo', claimedBy: null });
    expect((await h.req('GET', `/api/v1/tasks/ready?projectId=${p}`)).body.map((x: { id: string }) => x.id)).toEqual([t.id]);
  });

  it('a task blocked by dependencies cannot be claimed (409 listing blockedBy); completing a claimed task releases it', async () => {
    const p = await project('c2');
    const a = await task(p);
    const b = await task(p, { dependencies: [a.id] });
    const s = await session(p);
    const blocked = await h.req('POST', `/api/v1/tasks/${b.id}/claim`, { sessionId: s });
    expect(blocked.status).toBe(409);
    expect(blocked.body.details).toEqual({ blockedBy: [a.id] });
    await h.req('POST', `/api/v1/tasks/${a.id}/claim`, { sessionId: s });
    const done = await h.req('PATCH', `/api/v1/tasks/${a.id}`, { status: 'completed' });
    expect(done.body).toMatchObject({ status: 'completed', claimedBy: null });
    expect((await h.req('POST', `/api/v1/tasks/${b.id}/claim`, { sessionId: s })).status).toBe(200);
    // ending the session releases its claims
    await h.req('PATCH', `/api/v1/sessions/${s}`, { status: 'completed' });
    expect(await get(b.id)).toMatchObject({ status: 'todo', claimedBy: null });
  });

  it('50 concurrent claims of one task over two replicas: exactly one 2xx', async () => {
    const p = await project('c3');
    const t = await task(p);
    const sessions = await Promise.all(Array.from({ length: 50 }, () => session(p)));
    const answers = await Promise.all(sessions.map((s, i) => (i % 2 ? other : h).req('POST', `/api/v1/tasks/${t.id}/claim`, { sessionId: s })));
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toHaveLength(49);
    expect((await get(t.id)).claimedBy.sessionId).toBe(won[0]!.body.claimedBy.sessionId);
  });

  it('20 sessions claim-next over 100 ready tasks on two replicas: 100 distinct claims, none twice, then 204', async () => {
    const p = await project('c4');
    for (let i = 0; i < 100; i++) await task(p, { title: `r${i}` });
    const sessions = await Promise.all(Array.from({ length: 20 }, () => session(p)));
    const claimed: { sessionId: string; taskId: string }[] = [];
    let nones = 0;
    await Promise.all(
      sessions.map(async (s, i) => {
        for (;;) {
          const r = await (i % 2 ? other : h).req('POST', '/api/v1/tasks/claim-next', { projectId: p, sessionId: s });
          if (r.status === 204) {
            nones++;
            return;
          }
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          claimed.push({ sessionId: s, taskId: r.body.id });
        }
      }),
    );
    expect(claimed).toHaveLength(100);
    expect(new Set(claimed.map((c) => c.taskId)).size).toBe(100);
    expect(nones).toBe(20);
    for (const c of claimed.slice(0, 10)) expect((await get(c.taskId)).claimedBy.sessionId).toBe(c.sessionId);
  });

  it('a lapsed lease is released by the workers with task:updated', async () => {
    const p = await project('c5');
    const t = await task(p);
    const s = await session(p);
    await h.req('POST', `/api/v1/tasks/${t.id}/claim`, { sessionId: s, leaseMs: 1000 });
    await waitFor(async () => (await get(t.id)).claimedBy === null, 10_000, 'the lapsed claim released');
    expect(await get(t.id)).toMatchObject({ status: 'todo', claimedBy: null });
    const last = (await h.events(p)).filter((e) => e.type === 'task:updated' && e.data.id === t.id).at(-1);
    expect(last?.data).toMatchObject({ claimedBy: null, status: 'todo' });
    expect((await h.req('GET', `/api/v1/tasks/ready?projectId=${p}`)).body.map((x: { id: string }) => x.id)).toEqual([t.id]);
  });
});
