import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
let projectId: string;
beforeAll(async () => {
  projectId = (await h.req('POST', '/api/v1/projects', { name: 'concurrency' })).body.id;
});

const task = async (title: string) => (await h.req('POST', '/api/v1/tasks', { projectId, title })).body.id as string;
const session = async (taskIds: string[] = []) => (await h.req('POST', '/api/v1/sessions', { projectId, taskIds })).body.id as string;

describe('atomic multi-key changes under contention', () => {
  it('200 concurrent link/unlink calls on one session and task leave both sides and the index consistent', async () => {
    const t = await task('linked');
    const s = await session();
    const calls = Array.from({ length: 200 }, (_, i) =>
      h.req(i % 2 === 0 ? 'POST' : 'DELETE', `/api/v1/sessions/${s}/tasks/${t}`),
    );
    const results = await Promise.all(calls);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const sess = (await h.req('GET', `/api/sessions/${s}`)).body; // whole: every entry
    const tk = (await h.req('GET', `/api/v1/tasks/${t}`)).body;
    const byTask = (await h.req('GET', `/api/v1/sessions?taskId=${t}`)).body as { id: string }[];
    const linkedOnSession = sess.taskIds.includes(t);
    expect(tk.sessionIds.includes(s)).toBe(linkedOnSession);
    expect(byTask.some((x) => x.id === s)).toBe(linkedOnSession);
    expect(sess.taskIds.filter((x: string) => x === t).length).toBeLessThanOrEqual(1);
    // every call appended exactly one timeline entry and two events
    expect(sess.timeline).toHaveLength(1 + 200);
    const events = (await h.events(projectId)).filter(
      (e) => e.type.startsWith('session:task_') && e.data.sessionId === s,
    );
    expect(events).toHaveLength(200);
  });

  it('500 concurrent timeline appends are all kept', async () => {
    const s = await session();
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => h.req('POST', `/api/v1/sessions/${s}/timeline`, { message: `m${i}` })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(500);
    const sess = (await h.req('GET', `/api/sessions/${s}`)).body; // whole: every entry
    const messages = new Set(sess.timeline.map((e: { message: string }) => e.message));
    for (let i = 0; i < 500; i++) expect(messages.has(`m${i}`)).toBe(true);
    expect(sess.version).toBe(501);
  });

  it('concurrent writers with the same If-Match get exactly one success and 412 for the rest', async () => {
    const t = await task('contended');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        h.req('PATCH', `/api/v1/tasks/${t}`, { description: `writer ${i}` }, { 'If-Match': '"1"' }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const failed = results.filter((r) => r.status === 412);
    expect(failed).toHaveLength(29);
    expect(failed[0]!.body.code).toBe('PRECONDITION_FAILED');
    const final = (await h.req('GET', `/api/v1/tasks/${t}`)).body;
    expect(final.version).toBe(2);
  });

  it('concurrent PATCHes of different fields without If-Match lose nothing', async () => {
    const s = await session();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => h.req('PATCH', `/api/v1/sessions/${s}`, { env: { [`K${i}`]: String(i) } })),
    );
    const sess = (await h.req('GET', `/api/v1/sessions/${s}`)).body;
    expect(Object.keys(sess.env)).toHaveLength(40);
  });

  it('concurrent status changes keep the status indexes exact', async () => {
    const t = await task('status race');
    const statuses = ['in_progress', 'completed', 'blocked', 'todo', 'cancelled'];
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => h.req('PATCH', `/api/v1/tasks/${t}`, { status: statuses[i % statuses.length] })),
    );
    const final = (await h.req('GET', `/api/v1/tasks/${t}`)).body;
    for (const st of statuses) {
      const listed = ((await h.req('GET', `/api/v1/tasks?projectId=${projectId}&status=${st}`)).body as { id: string }[]).some(
        (x) => x.id === t,
      );
      expect(listed).toBe(st === final.status);
    }
  });
});
