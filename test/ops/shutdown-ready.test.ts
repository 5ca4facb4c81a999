import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';

/**
 * Issue 16: on SIGTERM an API replica's readiness turns false first and it keeps serving for
 * SHUTDOWN_DRAIN_DELAY_MS, so the load balancer takes it out of rotation before its listener closes.
 */
let redis: TestRedis;
let api: ApiProcess;
beforeAll(async () => {
  redis = await startRedis();
  api = await startApiProcess(redis.url, `sd${randomBytes(3).toString('hex')}:`, { SHUTDOWN_DRAIN_DELAY_MS: '1500' });
});
afterAll(async () => {
  if (api?.child.exitCode === null) await api.kill('SIGKILL');
  await redis?.stop();
});

describe('graceful stop', () => {
  it('answers /ready 503 "shutting down" at once on SIGTERM while still serving, then exits 0', async () => {
    expect((await call(api.base, 'GET', '/ready')).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => api.child.once('exit', (code) => resolve(code)));
    const t0 = Date.now();
    api.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const ready = await call(api.base, 'GET', '/ready');
    expect([ready.status, ready.body.message]).toEqual([503, 'Not ready: shutting down']);
    expect((await call(api.base, 'GET', '/health')).status).toBe(200);
    expect((await call(api.base, 'POST', '/api/v1/projects', { name: 'during the drain' })).status).toBe(201);
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  });
});
