import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, startApiProcesses, type ApiProcess } from '../helpers/processes.js';
import { clientPool, type RecordingClient } from '../helpers/ws-client.js';

let redis: TestRedis;
const prefix = `ws${randomBytes(3).toString('hex')}:`;
let A: ApiProcess;
let B: ApiProcess;
let C: ApiProcess;
const all: ApiProcess[] = [];
const pool = clientPool();
const open = (url: string) => pool.open(url);
const ws = (p: ApiProcess, query = '') => p.base.replace('http', 'ws') + '/' + query;

beforeAll(async () => {
  redis = await startRedis();
  [A, B, C] = await startApiProcesses(3, redis.url, prefix);
  all.push(A, B, C);
}, 60_000);
afterAll(async () => {
  await pool.closeAll();
  await Promise.all(all.map((p) => p.kill('SIGKILL')));
  await redis?.stop();
});

const types = (c: RecordingClient) => c.events().map((e) => e.type);

describe('fan-out across replicas', () => {
  it('a client with deltas on replica B receives the events of every mutating route sent to replica A, in the order of contract 03, appends as small events', async () => {
    const b = await open(ws(B, '?deltas=1'));
    const expected: string[] = [];
    const post = async (path: string, body: unknown, evts: string[], method = 'POST') => {
      const r = await call(A.base, method, path, body);
      expect(r.status).toBeLessThan(300);
      expected.push(...evts);
      return r.body;
    };
    const p = await post('/api/v1/projects', { name: 'fan' }, ['project:created']);
    await post(`/api/v1/projects/${p.id}`, { description: 'd' }, ['project:updated'], 'PUT');
    const t1 = await post('/api/v1/tasks', { projectId: p.id, title: 't1' }, ['task:created']);
    const t2 = await post('/api/v1/tasks', { projectId: p.id, title: 't2' }, ['task:created']);
    await post(`/api/v1/tasks/${t1.id}`, { status: 'in_progress' }, ['task:updated'], 'PATCH');
    const s = await post('/api/v1/sessions', { projectId: p.id, taskIds: [t1.id, t2.id] }, ['session:created', 'task:session_added', 'task:session_added']);
    await post(`/api/v1/sessions/${s.id}`, { status: 'working' }, ['session:updated'], 'PATCH');
    await post(`/api/v1/sessions/${s.id}/events`, { type: 'file_modified' }, ['session:event_added']);
    await post(`/api/v1/sessions/${s.id}/timeline`, { message: 'm' }, ['session:timeline_added']);
    await post(`/api/v1/tasks/${t1.id}/timeline`, { message: 'm', sessionId: s.id }, ['session:timeline_added']);
    await post(`/api/v1/sessions/${s.id}/tasks/${t2.id}`, undefined, ['session:task_removed', 'task:session_removed', 'session:timeline_added'], 'DELETE');
    await post(`/api/v1/sessions/${s.id}/tasks/${t2.id}`, undefined, ['session:task_added', 'task:session_added', 'session:timeline_added']);
    await post(`/api/v1/sessions/${s.id}`, undefined, ['session:deleted'], 'DELETE');
    await post(`/api/v1/tasks/${t2.id}`, undefined, ['task:deleted'], 'DELETE');
    await post(`/api/v1/tasks/${t1.id}`, undefined, ['task:deleted'], 'DELETE');
    await post(`/api/v1/projects/${p.id}`, undefined, ['project:deleted'], 'DELETE');
    await b.until((m) => m.length >= expected.length);
    expect(types(b)).toEqual(expected);
    const ids = b.events().map((e) => e.id);
    const key = (id: string) => id.split('-').map((n) => n.padStart(20, '0')).join('-');
    expect([...ids].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0))).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every replica sees the same events in the same order', async () => {
    const [a, b, c] = await Promise.all([open(ws(A)), open(ws(B)), open(ws(C))]);
    const p = (await call(B.base, 'POST', '/api/v1/projects', { name: 'order' })).body;
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => call([A, B, C][i % 3]!.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `t${i}` })),
    );
    for (const x of [a!, b!, c!]) await x.until(() => x.events().length >= 31);
    const idsOf = (x: RecordingClient) => x.events().map((e) => e.id);
    expect(idsOf(a!)).toEqual(idsOf(b!));
    expect(idsOf(b!)).toEqual(idsOf(c!));
  });
});

describe('replay on reconnect', () => {
  it('a client that reconnects to another replica with ?since gets exactly the 50 events it missed, then live ones, no duplicates', async () => {
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'replay' })).body;
    const first = await open(ws(A));
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'seen' });
    await first.until(() => first.events().some((e) => e.data?.title === 'seen'));
    const lastId = first.events().find((e) => e.data?.title === 'seen').id;
    await first.close();
    const missed: string[] = [];
    for (let i = 0; i < 50; i++) {
      const t = await call(B.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `missed ${i}` });
      missed.push(t.body.id);
    }
    const again = await open(ws(C, `?since=${lastId}`));
    await again.until(() => again.events().length >= 50);
    await new Promise((r) => setTimeout(r, 100));
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'live' });
    await again.until(() => again.events().length >= 51);
    await new Promise((r) => setTimeout(r, 200));
    const evs = again.events();
    expect(evs).toHaveLength(51);
    expect(evs.slice(0, 50).map((e) => e.data.id)).toEqual(missed);
    expect(evs[50].data.title).toBe('live');
  });

  it('resume by message while writes continue: no gap and no duplicate at the switch to live', async () => {
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'switch' })).body;
    const watcher = await open(ws(A));
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'base' });
    await watcher.until(() => watcher.events().some((e) => e.data?.title === 'base'));
    const baseId = watcher.events().find((e) => e.data?.title === 'base').id;
    let writing = true;
    const written: string[] = [];
    const writer = (async () => {
      for (let i = 0; writing && i < 300; i++) {
        const r = await call(B.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `w${i}` });
        written.push(r.body.id);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const resumer = await open(ws(C, `?since=${baseId}`));
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    await writer;
    await resumer.until(() => resumer.events().filter((e) => e.projectId === p.id).length >= written.length, 15_000);
    await new Promise((r) => setTimeout(r, 200));
    const got = resumer.events().filter((e) => e.projectId === p.id).map((e) => e.data.id);
    expect(got).toEqual(written);
  });

  it('{"type":"resume"} replays what the connection missed, without repeating events it already got live', async () => {
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'resume-msg' })).body;
    // The watcher is on C, so once it has r9, C's subscription is past r9 when c connects.
    const watcher = await open(ws(C));
    for (let i = 0; i < 10; i++) await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `r${i}` });
    await watcher.until(() => watcher.events().filter((e) => e.projectId === p.id).length >= 10);
    const firstId = watcher.events().find((e) => e.data?.title === 'r0').id;
    const c = await open(ws(C));
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'r10' });
    await c.until(() => c.events().length >= 1);
    c.ws.send(JSON.stringify({ type: 'resume', since: { [p.id]: firstId } }));
    await c.until(() => c.events().length >= 10);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.events().map((e) => e.data.title)).toEqual(['r10', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
  });

  it('a too-old id gets {"type":"resync_required"}', async () => {
    const small = `sm${randomBytes(3).toString('hex')}:`;
    const api = await startApiProcess(redis.url, small, { EVENT_STREAM_MAXLEN: '100' });
    all.push(api);
    const p = (await call(api.base, 'POST', '/api/v1/projects', { name: 'trimmed' })).body;
    const c = await open(ws(api));
    await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'first' });
    await c.until(() => c.events().length >= 1);
    const oldId = c.events()[0].id;
    for (let i = 0; i < 400; i++) await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `x${i}` });
    const late = await open(ws(api, `?since=${oldId}`));
    await late.until((m) => m.some((x) => x.type === 'resync_required'));
    expect(late.events()).toEqual([]);
  });
});

describe('replica failure', () => {
  it('kill -9 of the replica a client is on: it reconnects to another with since and misses nothing', async () => {
    const victim = await startApiProcess(redis.url, prefix);
    all.push(victim);
    const p = (await call(A.base, 'POST', '/api/v1/projects', { name: 'failover' })).body;
    const c = await open(ws(victim));
    let writing = true;
    const written: string[] = [];
    const writer = (async () => {
      for (let i = 0; writing && i < 2000; i++) {
        const r = await call(A.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: `f${i}` });
        if (r.status === 201) written.push(r.body.id);
      }
    })();
    await c.until(() => c.events().length >= 20);
    await victim.kill('SIGKILL');
    await c.until(() => c.closeCode !== undefined);
    const seen = c.events().filter((e) => e.projectId === p.id);
    const last = seen.at(-1).id;
    const resumed = await open(ws(B, `?since=${last}`));
    await new Promise((r) => setTimeout(r, 300));
    writing = false;
    await writer;
    await resumed.until(() => seen.length + resumed.events().filter((e) => e.projectId === p.id).length >= written.length, 15_000);
    const ids = [...seen, ...resumed.events().filter((e) => e.projectId === p.id)].map((e) => e.data.id);
    expect(ids).toEqual(written);
  });
});

describe('subscriptions and slow clients', () => {
  it('{"type":"subscribe"} narrows a client to the named projects', async () => {
    const p1 = (await call(A.base, 'POST', '/api/v1/projects', { name: 'one' })).body;
    const p2 = (await call(A.base, 'POST', '/api/v1/projects', { name: 'two' })).body;
    const c = await open(ws(B));
    c.ws.send(JSON.stringify({ type: 'subscribe', projectIds: [p2.id] }));
    await c.until((m) => m.some((x) => x.type === 'subscribed'));
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p1.id, title: 'not for you' });
    await call(A.base, 'POST', '/api/v1/tasks', { projectId: p2.id, title: 'for you' });
    // only task events: p2's own project:created (published by A before the client connected to B)
    // may still reach it through B's subscription under load, and is for p2 too
    const tasks = () => c.events().filter((e) => e.type.startsWith('task:'));
    await c.until(() => tasks().length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(tasks().map((e) => e.data.title)).toEqual(['for you']);
    expect(c.events().filter((e) => e.projectId !== p2.id)).toEqual([]);
  });

  it('a client that never reads is closed with 1013 and the replica RSS stays bounded', async () => {
    const api = await startApiProcess(redis.url, prefix, { WS_MAX_BUFFERED_BYTES: String(1024 * 1024) });
    all.push(api);
    const p = (await call(api.base, 'POST', '/api/v1/projects', { name: 'slow' })).body;
    const s = (await call(api.base, 'POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] })).body;
    const rssBefore = (await call(api.base, 'GET', '/health?deep=1')).body.memory.rssBytes;
    // with deltas: every session:updated is sent as it comes (a client without them gets whole
    // sessions coalesced to 4 a second, which a paused socket's kernel buffers absorb for long)
    const slow = await open(ws(api, '?deltas=1'));
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const big = 'x'.repeat(60 * 1024);
    for (let i = 0; i < 400 && slow.closeCode === undefined; i++) {
      await call(api.base, 'PATCH', `/api/v1/sessions/${s.id}`, { env: { [`K${i % 4}`]: big } });
      const st = (await call(api.base, 'GET', '/ws-status')).body;
      if (st.connectedClients === 0 || st.clients.every((x: { readyState: number }) => x.readyState !== 1)) break;
    }
    const rssAfter = (await call(api.base, 'GET', '/health?deep=1')).body.memory.rssBytes;
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await slow.until(() => slow.closeCode !== undefined, 15_000);
    expect(slow.closeCode).toBe(1013);
    expect(rssAfter - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('heartbeats', () => {
  it('sends ping frames every WS_HEARTBEAT_MS and terminates a client that does not answer', async () => {
    const api = await startApiProcess(redis.url, prefix, { WS_HEARTBEAT_MS: '200' });
    all.push(api);
    const healthy = await open(ws(api));
    let pings = 0;
    healthy.ws.on('ping', () => pings++);
    const silent = await open(ws(api));
    (silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const st = (await call(api.base, 'GET', '/ws-status')).body;
    expect(st.connectedClients).toBe(1);
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
  });
});

describe('shutdown', () => {
  it('on SIGTERM clients are closed with 1001', async () => {
    const api = await startApiProcess(redis.url, prefix);
    all.push(api);
    const c = await open(ws(api));
    expect(await api.kill('SIGTERM')).toBe(0);
    await c.until(() => c.closeCode !== undefined);
    expect(c.closeCode).toBe(1001);
  });
});

describe('Redis restart under a connected client', () => {
  it('the client is asked to reconnect (1012) once the subscription is back, and ?since fills the gap', async () => {
    const { startRedis: start } = await import('../helpers/redis-server.js');
    const own = await start({ appendonly: true });
    const api = await startApiProcess(own.url, `rr${randomBytes(3).toString('hex')}:`);
    all.push(api);
    const p = (await call(api.base, 'POST', '/api/v1/projects', { name: 'restart' })).body;
    const c = await open(ws(api));
    await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'before' });
    await c.until(() => c.events().length >= 1);
    const last = c.events().at(-1).id;
    await own.stop();
    await own.restart();
    let after = 0;
    for (let i = 0; i < 100 && after !== 201; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = (await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'after' })).status;
    }
    expect(after).toBe(201);
    await c.until(() => c.closeCode !== undefined, 15_000);
    expect(c.closeCode).toBe(1012);
    const again = await open(ws(api, `?since=${last}`));
    await again.until(() => again.events().some((e) => e.data?.title === 'after'));
    expect(again.events().filter((e) => e.data?.title === 'after')).toHaveLength(1);
    await own.stop();
  });
});
