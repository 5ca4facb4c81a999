import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { call } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Security issue 11, item 18 (contract 00 "Paths"): `/health` and `/ready` answer anyone (probes);
 * `/metrics`, `/health?deep=1` and `/ws-status` answer the metrics token or an admin on the API port,
 * and anyone on the replica's own METRICS_PORT. (`/docs` is open since issue 16: test/ops/admin-pages.test.ts.)
 */
const TOKEN = 'a-metrics-token-of-enough-length';
const GUARDED = ['/metrics', '/health?deep=1', '/ws-status'];
let redis: TestRedis;
let w: AuthWorld;

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url, { METRICS_TOKEN: TOKEN, METRICS_PORT: '0' });
});
afterAll(async () => {
  await w?.h.close();
  await redis?.stop();
});

describe('operational endpoints (item 18)', () => {
  it('probes stay open; the rest answer 401 anonymous, 403 a non-admin, 200 the metrics token or an admin', async () => {
    for (const path of ['/health', '/ready']) expect([path, (await w.h.req('GET', path)).status]).toEqual([path, 200]);
    const u = await w.user('ops-user');
    for (const path of GUARDED) {
      const anon = await w.h.req('GET', path);
      expect([path, anon.status, anon.body.code]).toEqual([path, 401, 'UNAUTHORIZED']);
      expect([path, (await w.h.req('GET', path, undefined, as(u.token))).status]).toEqual([path, 403]);
      expect([path, (await w.h.req('GET', path, undefined, { Authorization: 'Bearer wrong-token' })).status]).toEqual([path, 401]);
      expect([path, (await w.h.req('GET', path, undefined, { Authorization: `Bearer ${TOKEN}` })).status]).toEqual([path, 200]);
      expect([path, (await w.h.req('GET', path, undefined, as(w.adminKey))).status]).toEqual([path, 200]);
    }
    const metrics = await w.h.req('GET', '/metrics', undefined, { Authorization: `Bearer ${TOKEN}` });
    expect(String(metrics.body)).toContain('http_request_duration_seconds');
  });

  it('METRICS_PORT serves them without a token, and nothing of /api', async () => {
    const port = w.h.api.metricsPort!;
    expect(port).toBeGreaterThan(0);
    const ops = `http://127.0.0.1:${port}`;
    for (const path of [...GUARDED, '/health', '/ready']) expect([path, (await call(ops, 'GET', path)).status]).toEqual([path, 200]);
    expect((await call(ops, 'GET', '/api/v1/projects')).status).toBe(404);
  });
});
