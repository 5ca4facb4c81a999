import { Redis } from 'ioredis';
import type { Options } from 'express-rate-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeasedRateStore } from '../../src/api/middleware/leased-rate-store.js';
import { createRedis, type RedisClient } from '../../src/shared/redis-connection.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 12: the rate limiters lease blocks of max(1, floor(limit / 100)) hits from the shared Redis
 * counter (leased-rate-store.ts) instead of one Redis call per request. Small limits stay exact across
 * replicas, no limit is ever exceeded, a large limit costs far fewer Redis commands than requests, and
 * the limiter still fails open when Redis is away.
 */
let redis: TestRedis;
let admin: Redis;
const harnesses: Harness[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
  admin?.disconnect();
  await redis?.stop();
});

/** Two in-process replicas on one prefix with the given limits (auth off, so every request is local-admin from 127.0.0.1). */
async function twoReplicas(env: Record<string, string>): Promise<[Harness, Harness]> {
  const a = await startHarness(redis.url, env);
  const b = await startHarness(redis.url, { ...env, MAESTRO_REDIS_PREFIX: a.prefix });
  harnesses.push(a, b);
  return [a, b];
}

/** `count` GETs alternating over `replicas`; the statuses in order. */
async function statuses(replicas: Harness[], count: number, path = '/api/v1/templates'): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await replicas[i % replicas.length]!.req('GET', path)).status);
  return out;
}

/** Calls of `command` Redis has run since the last CONFIG RESETSTAT, scripts' inner calls included. */
async function calls(command: string): Promise<number> {
  const info = await admin.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

describe('leased rate limits across replicas', () => {
  it('a limit under 200 a minute counts every hit in Redis: the 151st request through either replica is 429', async () => {
    const reps = await twoReplicas({ RATE_LIMIT_PER_MINUTE: '150', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0' });
    const got = await statuses(reps, 152);
    expect(got.slice(0, 150)).toEqual(Array(150).fill(200));
    expect(got.slice(150)).toEqual([429, 429]);
    const r = await reps[0].req('GET', '/api/v1/templates');
    expect(r.body).toEqual({ error: true, code: 'RATE_LIMITED', message: 'Too many requests; retry later' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.headers.get('ratelimit')).toMatch(/^limit=150, remaining=0, reset=\d+$/);
  });

  it('with blocks of several hits no more than the limit passes, and at most a block per replica less', async () => {
    // 400 a minute: blocks of 4; the replicas take turns unevenly so each holds unused hits at times
    const reps = await twoReplicas({ RATE_LIMIT_PER_MINUTE: '400', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0' });
    const order = Array.from({ length: 420 }, (_, i) => (i % 7 < 3 ? reps[0] : reps[1]));
    const got: number[] = [];
    for (const h of order) got.push((await h.req('GET', '/api/v1/templates')).status);
    const passed = got.filter((s) => s === 200).length;
    expect(passed).toBeLessThanOrEqual(400);
    expect(passed).toBeGreaterThanOrEqual(400 - 2 * (4 - 1));
    expect(got.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  });

  it('a limit of 10,000 a minute makes one Redis lease per 100 requests, not one call per request', async () => {
    const [a] = await twoReplicas({ RATE_LIMIT_PER_MINUTE: '10000', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '10000' });
    await a.req('GET', '/api/v1/templates'); // the first leases (and loads the script)
    await admin.config('RESETSTAT');
    const got = await statuses([a], 500);
    expect(got).toEqual(Array(500).fill(200));
    // two limiters (per IP, per principal): each leases a block of 100 hits at a time
    const leases = await calls('incrby');
    expect(leases).toBeGreaterThanOrEqual(8);
    expect(leases).toBeLessThanOrEqual(12);
  });
});

describe('LeasedRateStore', () => {
  let conn: RedisClient;
  beforeAll(async () => {
    conn = createRedis(redis.url, { name: 'rate-lease-test' });
    await new Promise((r) => (conn.status === 'ready' ? r(undefined) : conn.once('ready', r)));
  });
  afterAll(() => conn?.disconnect());

  const store = (prefix: string, limit: number, windowMs = 60_000) => {
    const s = new LeasedRateStore({ redis: conn, prefix, leaseDivisor: 100, maxKeys: 1000 });
    s.init({ limit, windowMs } as Options);
    return s;
  };

  it('numbers hits 1, 2, 3 … across stores on one counter, and concurrent hits of one key share one lease', async () => {
    const prefix = `u${Date.now()}:`;
    const a = store(prefix, 10_000);
    const b = store(prefix, 10_000);
    expect(a.blockSize).toBe(100);
    await admin.config('RESETSTAT');
    const first = await Promise.all(Array.from({ length: 50 }, () => a.increment('k')));
    expect(first.map((r) => r.totalHits).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await calls('incrby')).toBe(1);
    expect((await b.increment('k')).totalHits).toBe(101);
    expect(Number(await admin.get(`${prefix}k`))).toBe(200);
    const ttl = await admin.pttl(`${prefix}k`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const reset = (await a.increment('k')).resetTime!.getTime();
    expect(Math.abs(reset - (Date.now() + ttl))).toBeLessThan(1000);
  });

  it('starts again with the next window, on every store', async () => {
    const prefix = `w${Date.now()}:`;
    const a = store(prefix, 3, 300);
    expect(a.blockSize).toBe(1);
    expect([(await a.increment('k')).totalHits, (await a.increment('k')).totalHits]).toEqual([1, 2]);
    await new Promise((r) => setTimeout(r, 350));
    expect((await a.increment('k')).totalHits).toBe(1);
  });

  it('fails at once while its connection is not ready, without queueing (express-rate-limit then lets the request pass)', async () => {
    const down = createRedis('redis://127.0.0.1:1', { name: 'rate-lease-down' });
    down.on('error', () => undefined);
    const s = new LeasedRateStore({ redis: down, prefix: 'x:', leaseDivisor: 100, maxKeys: 10 });
    s.init({ limit: 10, windowMs: 60_000 } as Options);
    const t0 = Date.now();
    await expect(Promise.resolve(s.increment('k'))).rejects.toThrow(/unavailable/);
    expect(Date.now() - t0).toBeLessThan(100);
    down.disconnect();
  });

  it('keeps at most maxKeys leases (a dropped lease loses its unused hits, never grants them twice)', async () => {
    const prefix = `m${Date.now()}:`;
    const s = new LeasedRateStore({ redis: conn, prefix, leaseDivisor: 1, maxKeys: 2 });
    s.init({ limit: 5, windowMs: 60_000 } as Options);
    for (const k of ['a', 'b', 'c']) await s.increment(k);
    expect(s.get('a')).toBeUndefined();
    expect(s.get('c')?.totalHits).toBe(1);
    // 'a' leases a new block: its first lease's 4 unused hits are not given again
    expect((await s.increment('a')).totalHits).toBe(6);
  });
});

describe('Redis away', () => {
  it('a request with the limiters on answers 503 at once (not 429, not a wait) and 200 once Redis is back', async () => {
    const own = await startRedis();
    const h = await startHarness(own.url, { RATE_LIMIT_PER_MINUTE: '100', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '100' });
    try {
      expect((await h.req('GET', '/api/v1/templates')).status).toBe(200);
      await own.stop(true);
      await new Promise((r) => setTimeout(r, 200)); // the replica has seen its connections close
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const r = await h.req('GET', '/api/v1/projects');
        expect(r.status).toBe(503);
        expect(Date.now() - t0).toBeLessThan(1000);
      }
      await own.restart();
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await h.req('GET', '/api/v1/projects')).status;
      }
      expect(status).toBe(200);
    } finally {
      await h.close();
      await own.stop(true);
    }
  }, 30_000);
});
