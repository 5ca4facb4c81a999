import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';
import { attempt, clientList, percentile, rssBytes, runLoad, sleep, statusCounts, streamEvents, type Outcome, UNLIMITED } from '../helpers/fault-kit.js';

/**
 * Fault 4 (issue 7): Redis made unresponsive with `DEBUG SLEEP` while clients keep reading and
 * writing. Requests time out with the contract's 503 after REQUEST_TIMEOUT_MS; there is no pile-up
 * (once Redis answers again, the API's RSS and its number of Redis connections are back near where
 * they were); then the API serves normally.
 */
const REQUEST_TIMEOUT_MS = 500;
const SLEEP_S = 3;
let redis: TestRedis;
let raw: Redis;
let api: ApiProcess;
/** Per Idempotency-Key: the task ids committed, and the answer to the retry (from the retry test). */
let idempotentRetry: { committed: string[][]; retried: { status: number; body: { id?: string } }[] } | undefined;
const prefix = `fs${randomBytes(3).toString('hex')}:`;

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
  api = await startApiProcess(redis.url, prefix, { ...UNLIMITED, REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
}, 60_000);
afterAll(async () => {
  await api?.kill('SIGKILL');
  raw?.disconnect();
  await redis?.stop();
});

/** The API's connections in CLIENT LIST (they are named `maestro-…`); the test's own are unnamed. */
const apiConnections = async () => (await clientList(raw)).filter((c) => c.name?.startsWith('maestro')).map((c) => c.name!).sort();

describe('fault: Redis slowed with DEBUG SLEEP', () => {
  it('requests time out with 503, no pile-up of memory or connections, normal service afterwards', async () => {
    const project = (await call(api.base, 'POST', '/api/v1/projects', { name: 'slow redis' })).body;
    const pid = api.child.pid!;
    const mixed = (seq: number): Promise<Outcome> =>
      seq % 2
        ? attempt(api.base, 'POST', '/api/v1/tasks', { projectId: project.id, title: `w${seq}` }, `w${seq}`)
        : attempt(api.base, 'GET', `/api/v1/projects/${project.id}`, undefined, `r${seq}`);

    // Warm up under the same load, then take the baseline at rest.
    const warm = runLoad(48, mixed);
    await sleep(2000);
    await warm.stop();
    await sleep(1000);
    const rssBefore = rssBytes(pid);
    const connsBefore = await apiConnections();
    const heapBefore = (await call(api.base, 'GET', '/health?deep=1')).body.memory.heapUsedBytes as number;

    // Two slow periods of SLEEP_S seconds under load: a pile-up would grow with each (figures per round).
    const rounds: { from: number; until: number; out: Outcome[]; rssPeak: number; rssAfter: number; conns: string[] }[] = [];
    for (let round = 0; round < 2; round++) {
      const load = runLoad(48, (seq) => mixed(seq + (round + 1) * 1_000_000));
      await sleep(300);
      const sleeper = new Redis(redis.url);
      await sleeper.ping();
      const from = Date.now();
      const slept = sleeper.call('DEBUG', 'SLEEP', String(SLEEP_S));
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), 100);
      await slept;
      const until = Date.now();
      sleeper.disconnect();
      await sleep(1000);
      await load.stop();
      clearInterval(sampler);
      await sleep(1500);
      rounds.push({ from, until, out: load.outcomes, rssPeak, rssAfter: rssBytes(pid), conns: await apiConnections() });
    }
    const out = rounds.flatMap((r) => r.out);
    const rssAfter = rounds.at(-1)!.rssAfter;
    const connsAfter = rounds.at(-1)!.conns;
    const heapAfter = (await call(api.base, 'GET', '/health?deep=1')).body.memory.heapUsedBytes as number;
    const metrics = String((await call(api.base, 'GET', '/metrics')).body);
    const inFlight = Number(/^http_requests_in_flight(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN);

    // Served normally afterwards: 30 requests in a row, all answered fast.
    const after: Outcome[] = [];
    for (let i = 0; i < 30; i++) after.push(await mixed(2_000_000 + i));

    // Requests that started while Redis slept, early enough to reach the timeout before it woke up.
    // Redis sleeps from when DEBUG SLEEP is written (`from`) for SLEEP_S; its reply may reach this busy
    // process late, so the window ends by the clock, with a margin for requests sent late.
    const timedOut = rounds.flatMap((r) => r.out.filter((o) => o.start >= r.from + 100 && o.start + REQUEST_TIMEOUT_MS + 1000 < r.from + SLEEP_S * 1000));
    const writes503 = out.filter((o) => o.status === 503 && o.tag.startsWith('w')).map((o) => o.tag);
    const titles = new Set((await streamEvents(raw, prefix, project.id)).filter((e) => e.type === 'task:created').map((e) => e.data.title as string));
    const mb = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
    console.log(
      '[fault 4: Redis DEBUG SLEEP]',
      JSON.stringify({
        sleepsMs: rounds.map((r) => r.until - r.from),
        requests: out.length,
        statuses: statusCounts(out),
        startedWhileAsleep: timedOut.length,
        timeoutP50ms: percentile(timedOut.map((o) => o.end - o.start), 50),
        timeoutMaxMs: Math.max(...timedOut.map((o) => o.end - o.start)),
        writesAnswered503ButCommitted: writes503.filter((t) => titles.has(t)).length,
        writesAnswered503: writes503.length,
        rssBeforeMB: mb(rssBefore),
        rssPeakMB: rounds.map((r) => mb(r.rssPeak)),
        rssAfterMB: rounds.map((r) => mb(r.rssAfter)),
        heapUsedBeforeMB: mb(heapBefore),
        heapUsedAfterMB: mb(heapAfter),
        redisConnectionsBefore: connsBefore.length,
        redisConnectionsAfter: rounds.map((r) => r.conns.length),
        connectionNames: connsAfter,
        httpInFlightAfter: inFlight,
        afterStatuses: statusCounts(after),
        afterP50ms: percentile(after.map((o) => o.end - o.start), 50),
        afterMaxMs: Math.max(...after.map((o) => o.end - o.start)),
      }),
    );

    // Every request made while Redis slept was answered 503 "Request timed out" after ~REQUEST_TIMEOUT_MS.
    expect(timedOut.length).toBeGreaterThan(20);
    for (const o of timedOut) {
      expect(o.status, `${o.tag} ${JSON.stringify(o.body)}`).toBe(503);
      expect(o.body).toEqual({ error: true, code: 'UNAVAILABLE', message: 'Request timed out' });
      expect(o.retryAfter).toBe('1');
      expect(o.end - o.start).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 20);
      expect(o.end - o.start).toBeLessThan(REQUEST_TIMEOUT_MS + 2000);
    }
    expect(percentile(timedOut.map((o) => o.end - o.start), 50)).toBeLessThan(REQUEST_TIMEOUT_MS + 400);
    // Nothing but 2xx and 503 under the slow period.
    expect(out.every((o) => o.status === 503 || (o.status >= 200 && o.status < 300))).toBe(true);
    // No pile-up: the same Redis connections as before (BullMQ's QueueEvents may have opened its
    // blocking XREAD connection, a second `maestro-api-spawn-events`, once; never more), no request
    // still in flight, and memory near where it was after ~1,000 timed-out requests.
    for (const r of rounds) {
      expect(r.conns.length).toBeLessThanOrEqual(connsBefore.length + 1);
      expect([...new Set(r.conns)]).toEqual([...new Set(connsBefore)]);
    }
    expect(inFlight).toBeLessThanOrEqual(1); // the /metrics request itself
    expect(rssAfter - rssBefore).toBeLessThan(80 * 1024 * 1024);
    // Normal service.
    expect(after.every((o) => o.status === 200 || o.status === 201)).toBe(true);
    expect(percentile(after.map((o) => o.end - o.start), 50)).toBeLessThan(100);
    expect(api.child.exitCode).toBeNull();
  }, 60_000);

  it('a write timed out while Redis sleeps, retried with its Idempotency-Key (figures for the next test)', async () => {
    const project = (await call(api.base, 'POST', '/api/v1/projects', { name: 'idempotent retry' })).body;
    const keyed = (i: number) =>
      fetch(`${api.base}/api/v1/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `fault-retry-${i}` },
        body: JSON.stringify({ projectId: project.id, title: `idem${i}` }),
      }).then(async (r) => ({ status: r.status, replayed: r.headers.get('idempotent-replayed'), body: (await r.json()) as { id?: string; message?: string } }));
    const sleeper = new Redis(redis.url);
    await sleeper.ping();
    const slept = sleeper.call('DEBUG', 'SLEEP', '2');
    await sleep(100);
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => keyed(i)));
    await slept;
    sleeper.disconnect();
    await sleep(1000); // Retry-After: 1
    const retried = await Promise.all(Array.from({ length: 10 }, (_, i) => keyed(i)));
    const tasks = (await streamEvents(raw, prefix, project.id)).filter((e) => e.type === 'task:created').map((e) => e.data as { id: string; title: string });
    const committed = Array.from({ length: 10 }, (_, i) => tasks.filter((t) => t.title === `idem${i}`).map((t) => t.id));
    // the records (src/api/middleware/idempotency.ts): per credential scope, `u:<user id>` here
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => raw.hget(`${prefix}idem:u:local-admin:fault-retry-${i}`, 'state')));
    const ttls = await Promise.all(Array.from({ length: 10 }, (_, i) => raw.ttl(`${prefix}idem:u:local-admin:fault-retry-${i}`)));
    idempotentRetry = { committed, retried };
    console.log(
      '[fault 4b: Idempotency-Key retry after a 503 timeout]',
      JSON.stringify({
        firstStatuses: statusCounts(first.map((r) => ({ status: r.status }) as Outcome)),
        firstCommitted: committed.filter((ids) => ids.length > 0).length,
        tasksPerKey: committed.map((ids) => ids.length),
        retryAnswers: [...new Set(retried.map((r) => `${r.status}${r.replayed ? ' replayed' : ''} ${r.body.message ?? ''}`.trim()))],
        claimsStillPending: claims.filter((c) => c === 'pending').length,
        claimTtlSeconds: Math.min(...ttls),
      }),
    );
    // Preconditions of the next test: every first attempt timed out with 503, and was committed anyway.
    for (const r of first) expect(r).toMatchObject({ status: 503, body: { code: 'UNAVAILABLE', message: 'Request timed out' } });
    expect(committed.map((ids) => ids.length)).toEqual(Array.from({ length: 10 }, () => 1));
  }, 30_000);

  // Regression test (a bug this suite found, now fixed): a POST with an Idempotency-Key that is answered `503 Request timed out`
  // (REQUEST_TIMEOUT_MS, `Retry-After: 1`) is still committed once Redis answers, but its key stays
  // `pending` for IDEMPOTENCY_TTL_SECONDS (24 h): every retry answers 409 "A request with this
  // Idempotency-Key is still in progress", so the client can never learn the outcome. Cause: the
  // handler runs after the timeout already sent the 503; `sendEntity` (src/api/http.ts) calls
  // `res.setHeader('ETag', …)` on a sent response, which throws ERR_HTTP_HEADERS_SENT; the error handler
  // (src/api/middleware/error-handler.ts) then only `res.destroy()`s, so the idempotency middleware's
  // wrapped `send` (src/api/middleware/idempotency.ts, captureAndStore) never stores the 201 nor drops
  // the claim. Contract 00: the first response is "replayed for a retry with the same key and body".
  it('a retry with the same Idempotency-Key is answered with the committed write (201, same task)', () => {
    expect(idempotentRetry).toBeDefined();
    const { committed, retried } = idempotentRetry!;
    for (let i = 0; i < retried.length; i++) {
      expect(retried[i]!.status).toBe(201);
      expect(retried[i]!.body.id).toBe(committed[i]![0]);
    }
  });
});
