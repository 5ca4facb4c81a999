import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';

let redis: TestRedis;
const procs: ApiProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await redis?.stop();
});

describe('rate limits hold across replicas (one Redis)', () => {
  it('a per-IP limit of 10/min over two API processes: the 11th request through either one is 429 RATE_LIMITED with Retry-After', async () => {
    const prefix = `rl${randomBytes(3).toString('hex')}:`;
    const [a, b] = await Promise.all([0, 1].map(() => startApiProcess(redis.url, prefix, { RATE_LIMIT_PER_MINUTE: '10' })));
    procs.push(a!, b!);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call((i % 2 ? a : b)!.base, 'GET', '/api/v1/projects')).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const r = await call(a!.base, 'GET', '/api/v1/projects');
    expect(r.body).toEqual({ error: true, code: 'RATE_LIMITED', message: 'Too many requests; retry later' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(a!.base, 'GET', '/health')).status).toBe(200); // health is not limited
  });

  it('spawn has its own, stricter limit', async () => {
    const prefix = `rs${randomBytes(3).toString('hex')}:`;
    const api = await startApiProcess(redis.url, prefix, { RATE_LIMIT_SPAWN_PER_MINUTE: '2' });
    procs.push(api);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await call(api.base, 'POST', '/api/v1/sessions/spawn', {})).status);
    expect(codes).toEqual([400, 400, 429]);
    expect((await call(api.base, 'GET', '/api/v1/projects')).status).toBe(200);
  });
});

describe('password guessing', () => {
  it('login is limited per IP (RATE_LIMIT_AUTH_PER_MINUTE) across replicas', async () => {
    const prefix = `ra${randomBytes(3).toString('hex')}:`;
    const env = { MAESTRO_AUTH: 'required', RATE_LIMIT_AUTH_PER_MINUTE: '3', MAESTRO_CREDENTIALS_FILE: `/tmp/maestro-creds-${prefix.slice(0, -1)}` };
    const [a, b] = await Promise.all([0, 1].map(() => startApiProcess(redis.url, prefix, env)));
    procs.push(a!, b!);
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await call((i % 2 ? a : b)!.base, 'POST', '/api/v1/auth/login', { email: 'x@example.com', password: 'guess' + i })).status);
    expect(codes).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('a slow Redis', () => {
  it('requests that take longer than REQUEST_TIMEOUT_MS answer 503 and the replica serves again afterwards', async () => {
    const prefix = `sl${randomBytes(3).toString('hex')}:`;
    const api = await startApiProcess(redis.url, prefix, { REQUEST_TIMEOUT_MS: '300', RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0' });
    procs.push(api);
    const admin = new Redis(redis.url);
    const sleeping = admin.call('DEBUG', 'SLEEP', '1');
    await new Promise((r) => setTimeout(r, 50));
    const r = await call(api.base, 'GET', '/api/v1/projects');
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: true, code: 'UNAVAILABLE', message: 'Request timed out' });
    await sleeping;
    admin.disconnect();
    expect((await call(api.base, 'GET', '/api/v1/projects')).status).toBe(200);
  });
});
