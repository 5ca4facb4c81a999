import { beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ADMIN } from '../../src/shared/principal.js';
import { QueueStore } from '../../src/shared/stores/queue-store.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
let projectId: string;
beforeAll(async () => {
  projectId = (await h.req('POST', '/api/v1/projects', { name: 'queues' })).body.id;
});

const newTask = async (title = 't') => (await h.req('POST', '/api/v1/tasks', { projectId, title })).body.id as string;
/** A queue exists only for sessions spawned with strategy 'queue' (contract 05): made here via the store. */
async function queueSession(taskIds: string[]): Promise<string> {
  const s = await h.api.deps.stores.sessions.createForSpawn(
    LOCAL_ADMIN,
    { projectId, taskIds, name: 'q', strategy: 'queue', metadata: {} },
    (id, now) => QueueStore.initialDoc(id, taskIds, now),
  );
  return s.id;
}
const q = (sid: string, op = '') => `/api/v1/sessions/${sid}/queue${op}`;

describe('queue guards (contract 02 "Queue")', () => {
  it('unknown session → 404 NOT_FOUND "Session with id … not found"', async () => {
    const r = await h.req('GET', q('nope'));
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: true, statusCode: 404, code: 'NOT_FOUND', message: "Session with id 'nope' not found" });
  });

  it('a session that does not use the queue strategy → 400 VALIDATION_ERROR', async () => {
    const s = (await h.req('POST', '/api/v1/sessions', { projectId, taskIds: [] })).body.id;
    for (const [m, op] of [['GET', ''], ['GET', '/top'], ['GET', '/items'], ['POST', '/start'], ['POST', '/complete'], ['POST', '/fail'], ['POST', '/skip'], ['POST', '/push']] as const) {
      const r = await h.req(m, q(s, op), m === 'POST' ? {} : undefined);
      expect(r.status).toBe(400);
      expect(r.body.message).toBe(`Session ${s} does not use queue strategy`);
    }
  });

  it('strategy queue via POST /sessions has no queue → 404 "Queue with id … not found" (D36)', async () => {
    const s = (await h.req('POST', '/api/v1/sessions', { projectId, taskIds: [], strategy: 'queue' })).body.id;
    const r = await h.req('GET', q(s));
    expect(r.status).toBe(404);
    expect(r.body.message).toBe(`Queue with id '${s}' not found`);
    const push = await h.req('POST', q(s, '/push'), {});
    expect(push.status).toBe(400);
    expect(push.body.message).toBe('taskId is required');
  });
});

describe('queue lifecycle (contract 05)', () => {
  it('start → complete → start → fail(reason) → skip → push → start → complete → empty', async () => {
    const [a, b, c] = [await newTask('a'), await newTask('b'), await newTask('c')];
    const sid = await queueSession([a, b, c]);

    const initial = await h.req('GET', q(sid));
    expect(initial.status).toBe(200);
    expect(initial.body.queue).toMatchObject({ sessionId: sid, strategy: 'queue', currentIndex: -1 });
    expect(initial.body.queue.items.map((i: { taskId: string; status: string }) => [i.taskId, i.status])).toEqual([
      [a, 'queued'],
      [b, 'queued'],
      [c, 'queued'],
    ]);
    expect(initial.body.stats).toEqual({ total: 3, queued: 3, processing: 0, completed: 0, failed: 0, skipped: 0 });

    const top = await h.req('GET', q(sid, '/top'));
    expect(top.body).toEqual({ hasMore: true, item: initial.body.queue.items[0] });

    const s1 = await h.req('POST', q(sid, '/start'), {});
    expect(s1.status).toBe(200);
    expect(s1.body.success).toBe(true);
    expect(s1.body.message).toBe(`Started processing task ${a}`);
    expect(s1.body.item).toMatchObject({ taskId: a, status: 'processing' });
    expect(typeof s1.body.item.startedAt).toBe('number');
    expect((await h.req('GET', `/api/v1/tasks/${a}`)).body.sessionStatus).toBe('working');

    const again = await h.req('POST', q(sid, '/start'), {});
    expect(again.status).toBe(400);
    expect(again.body.message).toBe(`Already processing task ${a}. Complete or fail it first.`);

    const done = await h.req('POST', q(sid, '/complete'), {});
    expect(done.body).toMatchObject({ success: true, hasMore: true, message: `Completed ${a}. Next: ${b}` });
    expect(done.body.completedItem).toMatchObject({ taskId: a, status: 'completed' });
    expect(done.body.nextItem).toMatchObject({ taskId: b, status: 'queued' });
    expect((await h.req('GET', `/api/v1/tasks/${a}`)).body.sessionStatus).toBe('completed');

    const noCurrent = await h.req('POST', q(sid, '/complete'), {});
    expect(noCurrent.status).toBe(400);
    expect(noCurrent.body.message).toBe('No item currently being processed. Run "start" first.');
    expect((await h.req('POST', q(sid, '/fail'), {})).body.message).toBe('No item currently being processed. Run "start" first.');

    await h.req('POST', q(sid, '/start'), {});
    const failed = await h.req('POST', q(sid, '/fail'), { reason: 'broke' });
    expect(failed.body).toMatchObject({ success: true, hasMore: true, message: `Failed ${b}. Next: ${c}` });
    expect(failed.body.failedItem).toMatchObject({ taskId: b, status: 'failed', failReason: 'broke' });
    expect(typeof failed.body.failedItem.completedAt).toBe('number');
    expect((await h.req('GET', `/api/v1/tasks/${b}`)).body.sessionStatus).toBe('failed');

    const skipped = await h.req('POST', q(sid, '/skip'), {});
    expect(skipped.body).toMatchObject({ success: true, hasMore: false, nextItem: null, message: `Skipped ${c}. Queue is empty.` });
    expect(skipped.body.skippedItem).toMatchObject({ taskId: c, status: 'skipped' });
    expect((await h.req('GET', `/api/v1/tasks/${c}`)).body.sessionStatus).toBeUndefined();
    expect((await h.req('POST', q(sid, '/skip'), {})).body.message).toBe('No items left in queue to skip');

    const empty = await h.req('POST', q(sid, '/start'), {});
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ success: true, item: null, empty: true, message: 'Queue is empty \u2014 no items to process' });
    expect((await h.req('GET', q(sid, '/top'))).body).toEqual({ hasMore: false, item: null, message: 'Queue is empty - all tasks processed' });

    const d = await newTask('d');
    const pushed = await h.req('POST', q(sid, '/push'), { taskId: d });
    expect(pushed.body).toMatchObject({ success: true, item: { taskId: d, status: 'queued' } });
    expect((await h.req('POST', q(sid, '/push'), { taskId: a })).body.message).toBe(`Task ${a} already in queue`);
    const missing = await h.req('POST', q(sid, '/push'), { taskId: 'task_missing' });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe("Task with id 'task_missing' not found");
    expect((await h.req('POST', q(sid, '/push'), {})).body.message).toBe('taskId is required');
    // push touches neither side of the links
    expect((await h.req('GET', `/api/v1/sessions/${sid}`)).body.taskIds).toEqual([a, b, c]);
    expect((await h.req('GET', `/api/v1/tasks/${d}`)).body.sessionIds).toEqual([]);

    await h.req('POST', q(sid, '/start'), {});
    const last = await h.req('POST', q(sid, '/complete'), {});
    expect(last.body.message).toBe(`Completed ${d}. Queue is empty.`);
    const items = await h.req('GET', q(sid, '/items'));
    expect(items.body.stats).toEqual({ total: 4, queued: 0, processing: 0, completed: 2, failed: 1, skipped: 1 });
    expect(items.body.items.map((i: { status: string }) => i.status)).toEqual(['completed', 'failed', 'skipped', 'completed']);
  });

  it('start with nothing queued answers the empty 200 even while an item is processing', async () => {
    const a = await newTask();
    const sid = await queueSession([a]);
    await h.req('POST', q(sid, '/start'), {});
    const r = await h.req('POST', q(sid, '/start'), {});
    expect(r.status).toBe(200);
    expect(r.body.empty).toBe(true);
  });

  it('skip skips the current item when one is processing, and fail without reason has no failReason', async () => {
    const [a, b] = [await newTask(), await newTask()];
    const sid = await queueSession([a, b]);
    await h.req('POST', q(sid, '/start'), {});
    const r = await h.req('POST', q(sid, '/skip'), {});
    expect(r.body.skippedItem.taskId).toBe(a);
    expect((await h.req('GET', q(sid))).body.queue.currentIndex).toBe(-1);
    await h.req('POST', q(sid, '/start'), {});
    const f = await h.req('POST', q(sid, '/fail'), {});
    expect(f.body.failedItem).not.toHaveProperty('failReason');
  });

  it('queue operations never emit task:updated; each mutation appends an additive queue:updated', async () => {
    const a = await newTask();
    const sid = await queueSession([a]);
    const before = (await h.events(projectId)).length;
    await h.req('POST', q(sid, '/start'), {});
    await h.req('POST', q(sid, '/complete'), {});
    const evs = (await h.events(projectId)).slice(before);
    expect(evs.map((e) => e.type)).toEqual(['queue:updated', 'queue:updated']);
    expect(evs[1]!.data.queue.items[0].status).toBe('completed');
  });
});

describe('queue atomicity across concurrent callers', () => {
  it('50 concurrent starts with one queued item: exactly one starts it', async () => {
    const a = await newTask();
    const sid = await queueSession([a]);
    const results = await Promise.all(Array.from({ length: 50 }, () => h.req('POST', q(sid, '/start'), {})));
    const started = results.filter((r) => r.status === 200 && r.body.item);
    expect(started).toHaveLength(1);
    for (const r of results.filter((x) => !(x.status === 200 && x.body.item))) {
      expect(r.status === 400 ? r.body.message : r.body.empty).toBe(r.status === 400 ? `Already processing task ${a}. Complete or fail it first.` : true);
    }
    const state = (await h.req('GET', q(sid))).body;
    expect(state.stats.processing).toBe(1);
  });

  it('concurrent pushes of distinct tasks are all kept', async () => {
    const sid = await queueSession([await newTask()]);
    const ids = await Promise.all(Array.from({ length: 20 }, () => newTask()));
    const results = await Promise.all(ids.map((taskId) => h.req('POST', q(sid, '/push'), { taskId })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect((await h.req('GET', q(sid, '/items'))).body.stats.total).toBe(21);
  });
});
