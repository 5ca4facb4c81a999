import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { call, startApiProcesses, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { listTasks, nginxBinary, sleep, startNginx, UNLIMITED, waitFor, type Nginx } from '../helpers/fault-kit.js';

/**
 * Issue 13 item 6: one of two API replicas behind nginx is frozen (SIGSTOP: it still completes TCP
 * handshakes, so nginx sees no connect error, only silence). nginx's HTTP read timeout (here 3 s
 * instead of 35 s, `timeouts.http`) must give it up and, per kind of request:
 * (a) a GET is answered from the other replica within about that timeout, and the next GETs go to
 *     the healthy replica at once (the frozen one is out of rotation for `failTimeout`);
 * (b) a POST with an Idempotency-Key is re-sent to the other replica (201), and a retry with the same
 *     key replays that result;
 * (c) a POST without a key is not re-sent once sent: 504, and no task from it on the other replica;
 * (d) a WebSocket through nginx, idle longer than the HTTP read timeout between the server's pings,
 *     stays open (its location keeps the hour-long timeout).
 * With one 3600 s read timeout for everything (the configuration before), (a) waits for the client's
 * own timeout.
 *
 * Which replica nginx picks is its round robin's choice (a replica back in rotation regains its
 * weight over a few picks): each kind is sent one request at a time until one stalls, i.e. went to
 * the frozen replica.
 */
const hasNginx = nginxBinary() !== undefined;
if (!hasNginx) console.warn('fault test skipped: nginx is not installed');

/** nginx's HTTP read timeout in this test, s. */
const HTTP_TIMEOUT_S = 3;
/** How long one failure keeps a replica out of rotation here, s. */
const FAIL_TIMEOUT_S = 2;
/** Server ping interval: longer than the HTTP timeout, so the WebSocket has idle gaps beyond it. */
const WS_HEARTBEAT_MS = 5000;
/** The client's own timeout: above the slowest expected answer, far below the old 3600 s. */
const CLIENT_TIMEOUT_MS = 12_000;
/** How much later than the HTTP timeout a request given up on the frozen replica may be answered. */
const RETRY_SLACK_MS = 4000;
/** nginx counts fail_timeout in whole seconds: after this the frozen replica is in rotation again. */
const BACK_IN_ROTATION_MS = (FAIL_TIMEOUT_S + 1) * 1000 + 300;
/** A request not answered within this went to the frozen replica (the healthy one answers in ms). */
const STALL_MS = 1500;

let redis: TestRedis | undefined;
let procs: ApiProcess[] = [];
let nginx: Nginx | undefined;
const sockets: WebSocket[] = [];
const prefix = `nf${randomBytes(3).toString('hex')}:`;

beforeAll(async () => {
  if (!hasNginx) return;
  redis = await startRedis();
  procs = await startApiProcesses(2, redis.url, prefix, { ...UNLIMITED, WS_HEARTBEAT_MS: String(WS_HEARTBEAT_MS) });
  nginx = await startNginx(
    procs.map((p) => p.port),
    { timeouts: { http: HTTP_TIMEOUT_S, spawn: 2 * HTTP_TIMEOUT_S, failTimeout: FAIL_TIMEOUT_S } },
  );
}, 60_000);
afterAll(async () => {
  for (const p of procs) if (p.child.pid && p.child.exitCode === null) p.child.kill('SIGCONT');
  for (const ws of sockets) ws.terminate();
  await nginx?.stop();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await redis?.stop();
});

/** One request's outcome: status (0 = no answer: the client's timeout or a broken connection) and how long it took. */
interface Timed {
  status: number;
  body: any;
  headers: Headers | undefined;
  ms: number;
  error?: string;
}

async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Timed> {
  const start = Date.now();
  try {
    // nginx's HTML error pages stay text
    const res = await call(nginx!.url, method, path, body, headers, CLIENT_TIMEOUT_MS);
    return { ...res, ms: Date.now() - start };
  } catch (err) {
    return { status: 0, body: undefined, headers: undefined, ms: Date.now() - start, error: (err as Error).name };
  }
}

const show = (t: Timed) => `${t.status}${t.error ? ` (${t.error})` : ''} after ${t.ms} ms`;

/**
 * Sends `next(0)`, `next(1)`, … one at a time until one is not answered within STALL_MS (it went to
 * the frozen replica), then waits for that one; at most `tries` requests.
 */
async function untilOneStalls(next: (i: number) => Promise<Timed>, tries = 6): Promise<{ answered: Timed[]; stalled: Timed; index: number }> {
  const answered: Timed[] = [];
  for (let i = 0; i < tries; i++) {
    const pending = next(i);
    const r = await Promise.race([pending, sleep(STALL_MS).then(() => undefined)]);
    if (r === undefined) return { answered, stalled: await pending, index: i };
    answered.push(r);
  }
  throw new Error(`none of ${tries} requests went to the frozen replica: ${answered.map(show).join(', ')}`);
}

/** A WebSocket through nginx that records when it received each frame (messages and pings). */
function openSocket(path: string): Promise<{ ws: WebSocket; frames: number[]; pings: number; messages: any[]; closed?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(nginx!.url.replace('http', 'ws') + path, { perMessageDeflate: false });
    sockets.push(ws);
    const s = { ws, frames: [] as number[], pings: 0, messages: [] as any[], closed: undefined as number | undefined };
    ws.on('message', (raw) => {
      s.frames.push(Date.now());
      s.messages.push(JSON.parse(String(raw)));
    });
    ws.on('ping', () => {
      s.frames.push(Date.now());
      s.pings++;
    });
    ws.on('close', (code) => (s.closed = code));
    ws.once('open', () => {
      s.frames.push(Date.now());
      resolve(s);
    });
    ws.once('error', reject);
  });
}

describe.runIf(hasNginx)('fault: an API replica frozen (SIGSTOP) behind nginx', () => {
  it('GETs and keyed POSTs move to the other replica within the HTTP timeout, unkeyed POSTs are not re-sent, WebSockets outlive it', async () => {
    const [frozen, healthy] = [procs[0]!, procs[1]!];
    const project = (await call(nginx!.url, 'POST', '/api/v1/projects', { name: 'frozen replica' })).body;
    const quiet = (await call(nginx!.url, 'POST', '/api/v1/projects', { name: 'websocket only' })).body;

    // (d) Two WebSockets (any path is an upgrade: contract 03), one on each replica, following a
    // project nothing writes to until the end: only the server's pings cross them meanwhile.
    const wss = [await openSocket('/'), await openSocket('/ws%20any?since=0-0')];
    for (const s of wss) s.ws.send(JSON.stringify({ type: 'subscribe', projectIds: [quiet.id] }));
    await waitFor(() => wss.every((s) => s.messages.some((m) => m.type === 'subscribed')), 5000, 'both subscriptions');
    for (const p of procs) expect((await call(p.base, 'GET', '/ws-status')).body.connectedClients).toBe(1);
    const wsOpenedAt = Date.now();

    frozen.child.kill('SIGSTOP');
    const timeoutMs = HTTP_TIMEOUT_S * 1000;

    // (a) GET: the one sent to the frozen replica is given up after the HTTP timeout and answered by
    // the other; the next ones go straight to the healthy replica.
    const get = await untilOneStalls(() => send('GET', `/api/v1/projects/${project.id}`));
    expect(get.answered.map((g) => g.status)).toEqual(get.answered.map(() => 200));
    expect(get.stalled.status, `the GET sent to the frozen replica: ${show(get.stalled)}`).toBe(200);
    expect(get.stalled.ms).toBeGreaterThanOrEqual(timeoutMs - 100);
    expect(get.stalled.ms).toBeLessThan(timeoutMs + RETRY_SLACK_MS);
    const after: Timed[] = [];
    for (let i = 0; i < 8; i++) after.push(await send('GET', `/api/v1/projects/${project.id}`));
    expect(after.map((g) => g.status)).toEqual(after.map(() => 200));
    expect(Math.max(...after.map((g) => g.ms)), `GETs after the first timeout: ${after.map((g) => g.ms).join(', ')} ms`).toBeLessThan(1000);

    // (b) POST with an Idempotency-Key: re-sent to the other replica after the timeout; a retry with
    // the same key replays the result.
    await sleep(BACK_IN_ROTATION_MS);
    const keys = Array.from({ length: 6 }, (_, i) => `nf-${i}-${randomBytes(4).toString('hex')}`);
    const keyed = await untilOneStalls((i) => send('POST', '/api/v1/tasks', { projectId: project.id, title: keys[i] }, { 'idempotency-key': keys[i]! }));
    const keyedAll = [...keyed.answered, keyed.stalled];
    expect(keyedAll.map((k) => k.status), `keyed POSTs: ${keyedAll.map(show).join(', ')}`).toEqual(keyedAll.map(() => 201));
    expect(keyed.stalled.ms, `the keyed POST sent to the frozen replica: ${show(keyed.stalled)}`).toBeGreaterThanOrEqual(timeoutMs - 100);
    expect(keyed.stalled.ms).toBeLessThan(timeoutMs + RETRY_SLACK_MS);
    const usedKeys = keys.slice(0, keyed.index + 1);
    for (const [i, key] of usedKeys.entries()) {
      const again = await send('POST', '/api/v1/tasks', { projectId: project.id, title: key }, { 'idempotency-key': key });
      expect(again.status).toBe(201);
      expect(again.headers?.get('idempotent-replayed')).toBe('true');
      expect(again.body.id).toBe(keyedAll[i]!.body.id);
    }

    // (c) POST without a key: the one sent to the frozen replica is reported (504), not re-sent.
    await sleep(BACK_IN_ROTATION_MS);
    const titles = Array.from({ length: 6 }, (_, i) => `plain-${i}-${randomBytes(4).toString('hex')}`);
    const plain = await untilOneStalls((i) => send('POST', '/api/v1/tasks', { projectId: project.id, title: titles[i] }));
    expect(plain.answered.map((p) => p.status)).toEqual(plain.answered.map(() => 201));
    expect(plain.stalled.status, `the unkeyed POST sent to the frozen replica: ${show(plain.stalled)}`).toBe(504);
    expect(plain.stalled.ms).toBeLessThan(timeoutMs + RETRY_SLACK_MS);
    const lost = titles[plain.index]!;
    const count = async (title: string) => (await listTasks(healthy.base, project.id)).filter((t) => t.title === title).length;
    for (const title of titles.slice(0, plain.index)) expect(await count(title)).toBe(1);
    expect(await count(lost)).toBe(0); // the healthy replica never got it

    // (d) Both WebSockets are still open, with gaps between frames longer than the HTTP timeout; the
    // one on the healthy replica gets the event of a write to the quiet project.
    expect(wss.map((s) => s.closed), 'close codes of the WebSockets').toEqual([undefined, undefined]);
    const event = await send('POST', '/api/v1/tasks', { projectId: quiet.id, title: 'to the sockets' });
    expect(event.status).toBe(201);
    await waitFor(() => wss.some((s) => s.messages.some((m) => m.event === 'task:created' && m.data?.id === event.body.id)), 5000, 'the event on the healthy replica');
    const live = wss.find((s) => s.messages.some((m) => m.data?.id === event.body.id))!;
    const gaps = live.frames.slice(1).map((t, i) => t - live.frames[i]!);
    expect(Date.now() - wsOpenedAt).toBeGreaterThan(3 * timeoutMs);
    expect(live.pings).toBeGreaterThanOrEqual(2);
    expect(Math.max(...gaps), `gaps between frames: ${gaps.join(', ')} ms`).toBeGreaterThan(timeoutMs + 1000);

    // Thawed, the frozen replica handles what it had been sent: the keyed POST it got is replayed
    // from the record the other replica made (no second task); the unkeyed one may be made now, once.
    frozen.child.kill('SIGCONT');
    await waitFor(async () => (await call(frozen.base, 'GET', '/health')).status === 200, 10_000, 'the thawed replica');
    await waitFor(async () => (await count(lost)) > 0, 3000, 'the thawed replica to handle its POST').catch(() => undefined);
    for (const key of usedKeys) expect(await count(key), key).toBe(1);
    expect(await count(lost)).toBeLessThanOrEqual(1);

    console.log(
      '[nginx failover: replica frozen]',
      JSON.stringify({
        httpTimeoutMs: timeoutMs,
        getsMs: [...get.answered, get.stalled].map((g) => g.ms),
        getsAfterMaxMs: Math.max(...after.map((g) => g.ms)),
        keyedMs: keyedAll.map((k) => k.ms),
        unkeyed: [...plain.answered, plain.stalled].map((p) => `${p.status}/${p.ms}ms`),
        unkeyedMadeAfterThaw: await count(lost),
        wsMaxGapMs: Math.max(...gaps),
        wsPings: live.pings,
      }),
    );
  }, 60_000);
});
