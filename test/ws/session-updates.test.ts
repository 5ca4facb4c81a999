import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcesses, type ApiProcess } from '../helpers/processes.js';
import { clientPool } from '../helpers/ws-client.js';

/**
 * Issue 12 / contract 00 "Events": appends are small events. A client with deltas gets every
 * `session:timeline_added` in order; a client without (the original UI, which replaces its session
 * with `session:updated` data) gets the whole, current session instead — coalesced to one per
 * SESSION_UPDATE_COALESCE_MS — live across replicas and on replay. Two real API processes.
 */
let redis: TestRedis;
const prefix = `su${randomBytes(3).toString('hex')}:`;
let A: ApiProcess;
let B: ApiProcess;
const pool = clientPool();
const open = (url: string) => pool.open(url);
const ws = (p: ApiProcess, query = '') => p.base.replace('http', 'ws') + '/' + query;

beforeAll(async () => {
  redis = await startRedis();
  [A, B] = await startApiProcesses(2, redis.url, prefix, { SESSION_UPDATE_COALESCE_MS: '250' });
}, 60_000);
afterAll(async () => {
  await pool.closeAll();
  await Promise.all([A, B].map((p) => p?.kill('SIGKILL')));
  await redis?.stop();
});

const N = 60;

async function sessionWithAppends(before?: (sid: string, pid: string) => Promise<void>) {
  const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'appends' })).body;
  const s = (await call(A.base, 'POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] })).body;
  await before?.(s.id, p.id);
  // fast appends on replica A, as an agent reporting in a loop
  for (let i = 0; i < N; i++) expect((await call(A.base, 'POST', `/api/v1/sessions/${s.id}/timeline`, { message: `m${i}` })).status).toBe(200);
  return { pid: p.id as string, sid: s.id as string };
}

const messages = (e: { data: { timeline: { message: string }[] } }) => e.data.timeline.map((t) => t.message);

describe('session appends to clients with and without deltas', () => {
  it('live, on another replica: deltas get every entry in order; the original UI gets whole current sessions, coalesced', async () => {
    const legacy = await open(ws(B));
    const delta = await open(ws(B, '?deltas=1'));
    const { sid } = await sessionWithAppends();
    const expectedMessages = ['Session created', ...Array.from({ length: N }, (_, i) => `m${i}`)];

    await delta.until((m) => m.filter((e) => e.type === 'session:timeline_added').length >= N);
    const added = delta.events().filter((e) => e.type === 'session:timeline_added');
    expect(added.map((e) => e.data.entry.message)).toEqual(expectedMessages.slice(1));
    expect(added.every((e) => e.data.sessionId === sid)).toBe(true);
    expect(added.map((e) => e.data.timelineCount)).toEqual(Array.from({ length: N }, (_, i) => i + 2));
    // a delta client never gets a session with its lists in session:updated
    expect(delta.events().filter((e) => e.type === 'session:updated' && e.data.timeline)).toEqual([]);

    // the legacy client: the whole, current session, far fewer times than there were appends
    await legacy.until((m) => m.some((e) => e.type === 'session:updated' && e.data.id === sid && e.data.timeline.length === N + 1), 10_000);
    const updates = legacy.events().filter((e) => e.type === 'session:updated' && e.data.id === sid);
    expect(legacy.events().filter((e) => e.type.endsWith('_added') && e.type.startsWith('session:'))).toEqual([]);
    expect(messages(updates.at(-1))).toEqual(expectedMessages);
    expect(updates.at(-1).data.events).toEqual([]);
    expect(updates.length).toBeLessThan(N / 2);
    // each update is a whole session whose timeline only grows
    for (let i = 1; i < updates.length; i++) expect(updates[i].data.timeline.length).toBeGreaterThanOrEqual(updates[i - 1].data.timeline.length);
    await legacy.close();
    await delta.close();
  });

  it('on replay: a client without deltas gets each touched session once, whole and current; one with deltas every entry in order', async () => {
    let since = '';
    const { pid, sid } = await sessionWithAppends(async (_sid, p) => {
      const seen = await open(ws(A, '?deltas=1'));
      await new Promise((r) => setTimeout(r, 600)); // the earlier test's appends are out of the look-back window
      await call(A.base, 'POST', '/api/v1/tasks', { projectId: p, title: 'marker' });
      await seen.until((m) => m.some((e) => e.data?.title === 'marker'));
      since = seen.events().find((e) => e.data?.title === 'marker').id;
      await seen.close();
      await new Promise((r) => setTimeout(r, 600)); // past the look-back window: only what follows counts
    });
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: pid, title: 'after' });
    await new Promise((r) => setTimeout(r, 300)); // no live coalesced update is due any more
    const legacy = await open(ws(B, `?since=${since}`));
    const delta = await open(ws(B, `?since=${since}&deltas=1`));
    await delta.until((m) => m.some((e) => e.data?.title === 'after'));
    expect(delta.events().filter((e) => e.type === 'session:timeline_added').map((e) => e.data.entry.message)).toEqual(Array.from({ length: N }, (_, i) => `m${i}`));
    await legacy.until((m) => m.some((e) => e.type === 'session:updated'));
    await new Promise((r) => setTimeout(r, 200));
    const updates = legacy.events().filter((e) => e.type === 'session:updated');
    expect(updates).toHaveLength(1);
    expect(updates[0].data.id).toBe(sid);
    expect(messages(updates[0])).toEqual(['Session created', ...Array.from({ length: N }, (_, i) => `m${i}`)]);
    expect(legacy.events().some((e) => e.data?.title === 'after')).toBe(true);
    // positions stay monotonic for a client that resumes with its last id
    const ids = legacy.events().map((e) => e.id);
    const key = (id: string) => id.split('-').map((n: string) => n.padStart(20, '0')).join('-');
    expect([...ids].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0))).toEqual(ids);
  });

  it('a client without deltas that leaves while a coalesced update is due gets the session again when it resumes from its last id', async () => {
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'leaving' })).body;
    const s = (await call(A.base, 'POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] })).body;
    const first = await open(ws(B, `?projectIds=${p.id}`));
    await call(A.base, 'POST', `/api/v1/sessions/${s.id}/timeline`, { message: 'one' });
    await first.until((m) => m.some((e) => e.type === 'session:updated'));
    await call(A.base, 'POST', `/api/v1/sessions/${s.id}/timeline`, { message: 'two' }); // its update is coalesced: due later
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'later' });
    await first.until((m) => m.some((e) => e.data?.title === 'later'));
    const last = first.events().at(-1).id;
    await first.close();
    const seenBefore = first.events().filter((e) => e.type === 'session:updated').map((e) => e.data.timeline.length);
    expect(seenBefore[0]).toBe(2); // (on a quiet machine it left before the second append's update)
    const again = await open(ws(B, `?projectIds=${p.id}&since=${last}`));
    await again.until((m) => m.some((e) => e.type === 'session:updated'));
    expect(messages(again.events().find((e) => e.type === 'session:updated'))).toEqual(['Session created', 'one', 'two']);
  });

  it('/api/v1 pages a long timeline; /api/sessions/:id is whole; /api/v1/sessions/:id carries the last 100 and the counts', async () => {
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'long' })).body;
    const s = (await call(A.base, 'POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] })).body;
    const batch = Array.from({ length: 250 }, (_, i) => ({ type: 'progress', message: `e${i}` }));
    expect((await call(A.base, 'PATCH', `/api/v1/sessions/${s.id}`, { timeline: batch })).status).toBe(200);
    const v1 = (await call(B.base, 'GET', `/api/v1/sessions/${s.id}`)).body;
    expect([v1.timeline.length, v1.timelineCount, v1.timeline.at(-1).message]).toEqual([100, 251, 'e249']);
    const whole = (await call(B.base, 'GET', `/api/sessions/${s.id}`)).body;
    expect(whole.timeline).toHaveLength(251);
    const page1 = await call(B.base, 'GET', `/api/v1/sessions/${s.id}/timeline?limit=100`);
    expect([page1.body.length, page1.headers.get('x-total-count')]).toEqual([100, '251']);
    const page2 = await call(B.base, 'GET', `/api/v1/sessions/${s.id}/timeline?limit=200&cursor=${page1.headers.get('x-next-cursor')}`);
    expect(page2.body.map((e: { message: string }) => e.message)).toEqual(whole.timeline.slice(100).map((e: { message: string }) => e.message));
    expect(page2.headers.get('x-next-cursor')).toBeNull();
    expect((await call(B.base, 'GET', `/api/sessions/${s.id}/timeline`)).body).toHaveLength(251);
  });
});
