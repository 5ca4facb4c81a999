import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';

let redis: TestRedis;
const procs: ApiProcess[] = [];
beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await redis?.stop();
});

describe('API process restart', () => {
  it('a restarted API process serves the same data', async () => {
    const prefix = `r${randomBytes(3).toString('hex')}:`;
    const a = await startApiProcess(redis.url, prefix);
    procs.push(a);
    const p = await call(a.base, 'POST', '/api/v1/projects', { name: 'kept' });
    const t = await call(a.base, 'POST', '/api/v1/tasks', { projectId: p.body.id, title: 'kept task' });
    expect(await a.kill('SIGTERM')).toBe(0);
    const b = await startApiProcess(redis.url, prefix);
    procs.push(b);
    expect((await call(b.base, 'GET', `/api/v1/projects/${p.body.id}`)).body).toEqual(p.body);
    expect((await call(b.base, 'GET', `/api/v1/tasks/${t.body.id}`)).body).toEqual(t.body);
  });
});

describe('Redis outage', () => {
  it('answers 503 UNAVAILABLE with Retry-After while Redis is down and 200 again once it returns, without a restart', async () => {
    const prefix = `o${randomBytes(3).toString('hex')}:`;
    const api = await startApiProcess(redis.url, prefix, { REDIS_COMMAND_TIMEOUT_MS: '1000' });
    procs.push(api);
    const p = await call(api.base, 'POST', '/api/v1/projects', { name: 'before outage' });
    expect(p.status).toBe(201);

    await redis.stop();
    const during = await call(api.base, 'GET', `/api/v1/projects/${p.body.id}`);
    expect(during.status).toBe(503);
    expect(during.body).toEqual({ error: true, code: 'UNAVAILABLE', message: 'Service temporarily unavailable' });
    expect(during.headers.get('retry-after')).toBe('1');
    const write = await call(api.base, 'POST', '/api/v1/projects', { name: 'during outage' });
    expect(write.status).toBe(503);
    expect((await call(api.base, 'GET', '/ready')).status).toBe(503);
    expect((await call(api.base, 'GET', '/health')).status).toBe(200);

    await redis.restart();
    let after = { status: 0, body: undefined as any };
    for (let i = 0; i < 100 && after.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await call(api.base, 'GET', `/api/v1/projects/${p.body.id}`);
    }
    expect(after.status).toBe(200);
    expect(after.body).toEqual(p.body); // AOF kept the acknowledged write
    expect(api.child.exitCode).toBeNull();
    const list = await call(api.base, 'GET', '/api/v1/projects');
    expect(list.body.map((x: { name: string }) => x.name)).toEqual(['before outage']);
  });
});
