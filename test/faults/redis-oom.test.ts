import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 13, item 3: Redis refusing writes — out of memory (`maxmemory` reached, `noeviction`) —
 * answered 500 while /ready stayed 200. Now every refused write is 503 UNAVAILABLE with Retry-After,
 * /ready says Redis refuses writes, reads keep working, and all recovers once memory is back.
 */
let redis: TestRedis;
let admin: Redis;
let api: ApiProcess;
const prefix = `oom${randomBytes(3).toString('hex')}:`;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  api = await startApiProcess(redis.url, prefix, { RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0' });
}, 60_000);
afterAll(async () => {
  await admin?.config('SET', 'maxmemory', '0').catch(() => undefined);
  admin?.disconnect();
  await api?.kill('SIGKILL');
  await redis?.stop();
});

describe('fault: Redis out of memory', () => {
  it('writes answer 503 UNAVAILABLE with Retry-After (never 500), /ready is 503, reads work, and it recovers', async () => {
    const p = (await call(api.base, 'POST', '/api/v1/projects', { name: 'oom' })).body;
    const t = (await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'before' })).body;
    expect((await call(api.base, 'GET', '/ready')).status).toBe(200);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('SET', 'maxmemory', String(Math.max(1024 * 1024, used - 1024 * 1024)));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const w = await call(api.base, i % 2 ? 'PATCH' : 'POST', i % 2 ? `/api/v1/tasks/${t.id}` : '/api/v1/tasks', i % 2 ? { title: `t${i}` } : { projectId: p.id, title: `t${i}` });
        statuses.push(w.status);
        if (w.status === 503) {
          expect(w.body.code).toBe('UNAVAILABLE');
          expect(Number(w.headers.get('retry-after'))).toBeGreaterThan(0);
        }
      }
      const ready = await call(api.base, 'GET', '/ready');
      console.log('[fault 13.3: Redis maxmemory set below its used memory]', JSON.stringify({ writes: statuses.length, statuses: [...new Set(statuses)], ready: `${ready.status} ${ready.body.message}` }));
      expect(statuses).toEqual(Array(20).fill(503));
      expect([ready.status, ready.body.message]).toEqual([503, 'Not ready: Redis refuses writes (OOM)']);
      expect((await call(api.base, 'GET', `/api/v1/tasks/${t.id}`)).body.title).toBe('before');
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect((await call(api.base, 'GET', '/ready')).status).toBe(200);
    expect((await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 'after' })).status).toBe(201);
  });
});
