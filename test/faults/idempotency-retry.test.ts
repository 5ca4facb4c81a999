import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, startApiProcesses, type ApiProcess } from '../helpers/processes.js';
import { attempt, percentile, runLoad, sleep, statusCounts, streamEvents, type Outcome, UNLIMITED } from '../helpers/fault-kit.js';

/**
 * Issue 13, items 1, 2 and 7 (contract 00 "Concurrency and retries"): a retry with the same
 * Idempotency-Key after any failure gets the write's real outcome, made once; a key is "in progress"
 * for at most the request's time limit plus a short lease; a late result after a response was sent
 * never crashes the replica. Each scenario reproduces a defect the independent fault run found, with
 * real processes: Redis stalled with SIGSTOP or DEBUG SLEEP past the command timeout, kill -9 of the
 * replica holding a claim. Figures per scenario are printed (`[fault 13.x]`) for bench/RESULTS.md.
 */
const LEASE_MS = 500;
const started: { apis: ApiProcess[]; redis: TestRedis[]; raw: Redis[] } = { apis: [], redis: [], raw: [] };

async function world(env: Record<string, string>, replicas = 1) {
  const redis = await startRedis();
  started.redis.push(redis);
  const raw = new Redis(redis.url);
  started.raw.push(raw);
  const prefix = `fi${randomBytes(3).toString('hex')}:`;
  const apis = replicas === 1 ? [await startApiProcess(redis.url, prefix, env)] : await startApiProcesses(replicas, redis.url, prefix, env);
  started.apis.push(...apis);
  return { redis, raw, prefix, apis };
}

afterEach(async () => {
  for (const a of started.apis.splice(0)) await a.kill('SIGKILL');
  for (const r of started.raw.splice(0)) r.disconnect();
  for (const r of started.redis.splice(0)) {
    r.signal('SIGCONT');
    await r.stop(true);
  }
});

const keyed = (base: string, path: string, body: unknown, key: string, extra: Record<string, string> = {}) =>
  attempt(base, 'POST', path, body, key, 15_000, { 'idempotency-key': key, ...extra });

/**
 * Retries `send` until it is answered with neither a 5xx nor a 409 "still in progress" (waiting
 * Retry-After between tries), for at most `boundMs`; the outcome and the ms it took from `since`.
 */
async function retryUntilDone(send: () => Promise<Outcome>, since: number, boundMs: number): Promise<{ last: Outcome; tries: number; ms: number; blocked: boolean }> {
  let tries = 0;
  for (;;) {
    const last = await send();
    tries++;
    const inProgress = last.status === 409 && /still in progress/.test(String(last.body?.message));
    if (!(last.status >= 500 || last.status === 0 || inProgress)) return { last, tries, ms: last.end - since, blocked: false };
    if (Date.now() - since > boundMs) return { last, tries, ms: Date.now() - since, blocked: true };
    await sleep(Math.min(1000, Number(last.retryAfter ?? 1) * 1000) / 4);
  }
}

describe('fault: retries with an Idempotency-Key learn the real outcome', () => {
  it('a write whose command timed out on the replica but ran in Redis is not made again by its retry (Redis DEBUG SLEEP past the command timeout)', async () => {
    // The command timeout (300 ms) answers 503 long before the request timeout: the commits queued
    // in Redis while it sleeps all run once it wakes, after their requests were answered 503.
    const { raw, prefix, apis } = await world({ ...UNLIMITED, REDIS_COMMAND_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '10000', IDEMPOTENCY_LEASE_MS: String(LEASE_MS) });
    const api = apis[0]!;
    const project = (await call(api.base, 'POST', '/api/v1/projects', { name: 'retries' })).body;
    const task = (await call(api.base, 'POST', '/api/v1/tasks', { projectId: project.id, title: 'host' })).body;
    const session = (await call(api.base, 'POST', '/api/v1/sessions', { projectId: project.id, taskIds: [task.id] })).body;
    const send = (key: string) =>
      key.startsWith('t')
        ? keyed(api.base, '/api/v1/tasks', { projectId: project.id, title: key }, key)
        : key.startsWith('l')
          ? keyed(api.base, `/api/v1/sessions/${session.id}/timeline`, { message: key }, key)
          : keyed(api.base, '/api/v1/projects', { name: key }, key);
    const kinds = ['t', 'l', 'p'];
    const load = runLoad(12, (seq) => send(`${kinds[seq % 3]}${seq}`));
    await sleep(400);
    const sleeper = new Redis(raw.options.port!, '127.0.0.1');
    await sleeper.call('DEBUG', 'SLEEP', '1.5');
    sleeper.disconnect();
    await sleep(300);
    await load.stop();
    const first = load.outcomes;
    const failed = first.filter((o) => o.status >= 500 || o.status === 0);
    const retried = await Promise.all(failed.map(async (o) => ({ key: o.tag, ...(await retryUntilDone(() => send(o.tag), o.end, 10_000)) })));

    // What was written, per key: tasks and projects from the streams' created events, timeline entries by message.
    const events = await streamEvents(raw, prefix, project.id);
    const count = (pred: (e: { type: string; data: any }) => string | undefined) => {
      const m = new Map<string, string[]>();
      for (const e of events) {
        const k = pred(e);
        if (k) m.set(k, [...(m.get(k) ?? []), e.data.id ?? e.data.entry?.id]);
      }
      return m;
    };
    const tasks = count((e) => (e.type === 'task:created' ? e.data.title : undefined));
    const entries = count((e) => (e.type === 'session:timeline_added' && String(e.data.entry?.message).startsWith('l') ? e.data.entry.message : undefined));
    const projectIds = (await raw.zrange(`${prefix}projects`, '0', '-1')).map((m) => m.slice(16));
    const projects = new Map<string, string[]>();
    for (const pid of projectIds) {
      const name = JSON.parse((await raw.hget(`${prefix}{${pid}}:project`, 'name')) ?? 'null') as string | null;
      if (name?.startsWith('p')) projects.set(name, [...(projects.get(name) ?? []), pid]);
    }
    const written = (key: string) => (key.startsWith('t') ? tasks : key.startsWith('l') ? entries : projects).get(key) ?? [];
    const twice = first.filter((o) => written(o.tag).length > 1).map((o) => `${o.tag}×${written(o.tag).length}`);
    const answered503ButCommitted = failed.filter((o) => written(o.tag).length > 0).length;
    const blocked = retried.filter((r) => r.blocked).map((r) => `${r.key}: ${r.last.status} ${r.last.body?.message ?? ''}`);
    console.log(
      '[fault 13.2: command timeouts under DEBUG SLEEP 1.5 s, retried with the same key]',
      JSON.stringify({
        requests: first.length,
        firstStatuses: statusCounts(first),
        answered503ButCommitted,
        keysWrittenTwice: twice.length,
        keysBlocked: blocked.length,
        retryStatuses: statusCounts(retried.map((r) => r.last)),
        retryMsP50: percentile(retried.map((r) => r.ms), 50),
        retryMsMax: Math.max(0, ...retried.map((r) => r.ms)),
        triesMax: Math.max(0, ...retried.map((r) => r.tries)),
      }),
    );
    // The scenario happened: writes answered 503 that Redis made all the same.
    expect(answered503ButCommitted).toBeGreaterThan(0);
    expect(twice).toEqual([]);
    expect(blocked).toEqual([]);
    for (const o of first) expect(written(o.tag), o.tag).toHaveLength(o.status === 201 || o.status === 200 || written(o.tag).length ? 1 : 0);
    for (const r of retried) {
      expect([200, 201], `${r.key} ${JSON.stringify(r.last.body)}`).toContain(r.last.status);
      expect(written(r.key), r.key).toHaveLength(1);
      // the answer is the write that was made (tasks and projects carry its id)
      if (!r.key.startsWith('l')) expect(r.last.body.id).toBe(written(r.key)[0]);
    }
    expect(api.child.exitCode).toBeNull();
  }, 90_000);

  it('a key whose claim was saved while the replica saw a timeout is not blocked: the retry after Redis answers again writes once (Redis SIGSTOP)', async () => {
    const { redis, raw, prefix, apis } = await world({ ...UNLIMITED, REDIS_COMMAND_TIMEOUT_MS: '300', IDEMPOTENCY_LEASE_MS: String(LEASE_MS) });
    const api = apis[0]!;
    const project = (await call(api.base, 'POST', '/api/v1/projects', { name: 'stalled claim' })).body;
    redis.signal('SIGSTOP');
    const stalled = await Promise.all(Array.from({ length: 5 }, (_, i) => keyed(api.base, '/api/v1/tasks', { projectId: project.id, title: `s${i}` }, `s${i}`)));
    redis.signal('SIGCONT');
    const since = Date.now();
    const retried = await Promise.all(stalled.map((o) => retryUntilDone(() => keyed(api.base, '/api/v1/tasks', { projectId: project.id, title: o.tag }, o.tag), since, 60_000)));
    const tasks = (await streamEvents(raw, prefix, project.id)).filter((e) => e.type === 'task:created').map((e) => e.data.title as string);
    console.log(
      '[fault 13.1: claims saved while Redis was stopped (SIGSTOP), retried after SIGCONT]',
      JSON.stringify({ firstStatuses: statusCounts(stalled), retryStatuses: statusCounts(retried.map((r) => r.last)), retryMs: retried.map((r) => r.ms), tries: retried.map((r) => r.tries) }),
    );
    for (const o of stalled) expect(o.status).toBe(503);
    for (const r of retried) {
      expect(r.blocked).toBe(false);
      expect(r.last.status).toBe(201);
      // one lease at most, not IDEMPOTENCY_TTL_SECONDS
      expect(r.ms).toBeLessThan(30_000 + LEASE_MS + 5_000);
    }
    for (let i = 0; i < 5; i++) expect(tasks.filter((t) => t === `s${i}`)).toHaveLength(1);
  }, 90_000);

  it('the replica holding a claim is killed (-9) mid-spawn: the retry on another replica gets the same spawn after the lease, never a second session', async () => {
    // No worker: the spawn waits SPAWN_WAIT_MS for its job, holding the key, when its replica dies.
    const { apis } = await world({ ...UNLIMITED, SPAWN_WAIT_MS: '3000', IDEMPOTENCY_LEASE_MS: String(LEASE_MS) }, 2);
    const [a, b] = apis as [ApiProcess, ApiProcess];
    const project = (await call(a.base, 'POST', '/api/v1/projects', { name: 'killed claim' })).body;
    const task = (await call(a.base, 'POST', '/api/v1/tasks', { projectId: project.id, title: 'spawn me' })).body;
    const body = { projectId: project.id, taskIds: [task.id], spawnSource: 'ui' };
    const firstAttempt = keyed(a.base, '/api/v1/sessions/spawn', body, 'spawn-1');
    await sleep(700);
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    expect((await firstAttempt).status).toBe(0);
    const early = await keyed(b.base, '/api/v1/sessions/spawn', body, 'spawn-1');
    const retry = await retryUntilDone(() => keyed(b.base, '/api/v1/sessions/spawn', body, 'spawn-1'), killedAt, 30_000);
    const again = await keyed(b.base, '/api/v1/sessions/spawn', body, 'spawn-1');
    const after = (await call(b.base, 'GET', `/api/v1/tasks/${task.id}`)).body;
    console.log(
      '[fault 13.1: kill -9 of the replica holding a spawn claim, retried on the other]',
      JSON.stringify({ earlyRetry: `${early.status} ${early.body?.message ?? ''}`, retry: retry.last.status, msAfterKill: retry.ms, tries: retry.tries, sessionsOfTask: after.sessionIds.length, again: again.status }),
    );
    // held while the lease runs (it cannot know the first attempt is dead), with Retry-After
    expect(early.status).toBe(409);
    expect(Number(early.retryAfter)).toBeGreaterThan(0);
    expect(retry.blocked).toBe(false);
    expect(retry.last.status).toBe(202);
    expect(retry.ms).toBeLessThan(3000 + LEASE_MS + 4000);
    // the session the first attempt made, not a second one
    expect(after.sessionIds).toEqual([retry.last.body.sessionId]);
    expect(again.body.sessionId).toBe(retry.last.body.sessionId);
  }, 60_000);

  it('a late outcome after the request timeout answered never crashes the replica (REQUEST_TIMEOUT_MS 2000, command timeout 1000, Redis stopped 3 s)', async () => {
    const { redis, apis } = await world({ ...UNLIMITED, REQUEST_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '1000', IDEMPOTENCY_LEASE_MS: String(LEASE_MS) });
    const api = apis[0]!;
    const project = (await call(api.base, 'POST', '/api/v1/projects', { name: 'late outcomes' })).body;
    const outcomes: Outcome[] = [];
    for (let round = 0; round < 2; round++) {
      const load = runLoad(12, (seq) => keyed(api.base, '/api/v1/tasks', { projectId: project.id, title: `r${round}-${seq}` }, `r${round}-${seq}`));
      await sleep(300);
      redis.signal('SIGSTOP');
      await sleep(3000);
      redis.signal('SIGCONT');
      await sleep(500);
      await load.stop();
      outcomes.push(...load.outcomes);
    }
    await sleep(1500);
    const health = await attempt(api.base, 'GET', '/health', undefined, 'health');
    const crashed = api.logs.filter((l) => /ERR_HTTP_HEADERS_SENT/.test(JSON.stringify(l)));
    console.log('[fault 13.7: late outcomes after the request timeout]', JSON.stringify({ statuses: statusCounts(outcomes), replicaAlive: api.child.exitCode === null, headersSentErrors: crashed.length }));
    expect(outcomes.some((o) => o.status === 503)).toBe(true);
    expect(api.child.exitCode).toBeNull();
    expect(health.status).toBe(200);
    expect(crashed).toEqual([]);
  }, 60_000);
});
