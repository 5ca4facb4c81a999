import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';

let redis: TestRedis;
let api: ApiProcess;
beforeAll(async () => {
  redis = await startRedis();
  api = await startApiProcess(redis.url, `ls${randomBytes(3).toString('hex')}:`, {
    MAESTRO_AUTH: 'required',
    LOG_LEVEL: 'trace',
    MAESTRO_CREDENTIALS_FILE: `/tmp/maestro-creds-${randomBytes(4).toString('hex')}`,
    SPAWN_WAIT_MS: '0',
  });
});
afterAll(async () => {
  await api?.kill('SIGKILL');
  await redis?.stop();
});

describe('logs never hold secrets', () => {
  it('after registering, logging in, refreshing, creating and using keys, and spawning, no secret appears in any log line', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const reg = await call(api.base, 'POST', '/api/v1/auth/register', { email: 'log@example.com', password });
    const login = await call(api.base, 'POST', '/api/v1/auth/login', { email: 'log@example.com', password });
    const bad = await call(api.base, 'POST', '/api/v1/auth/login', { email: 'log@example.com', password: `${password}x` });
    expect(bad.status).toBe(401);
    const refreshed = await call(api.base, 'POST', '/api/v1/auth/refresh', { refreshToken: login.body.refreshToken });
    const auth = { Authorization: `Bearer ${login.body.accessToken}` };
    const key = (await call(api.base, 'POST', '/api/v1/api-keys', { name: 'k' }, auth)).body.key as string;
    const p = (await call(api.base, 'POST', '/api/v1/projects', { name: 'p' }, { 'X-API-Key': key })).body;
    const t = (await call(api.base, 'POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, { 'X-API-Key': key })).body;
    const s = (await call(api.base, 'POST', '/api/v1/sessions', { projectId: p.id, taskIds: [t.id], env: { MY_SECRET: 'shh-env-secret' } }, { 'X-API-Key': key })).body;
    await call(api.base, 'PATCH', `/api/v1/sessions/${s.id}`, { env: { OPENAI_API_KEY: 'sk-env-key-value' } }, { 'X-API-Key': key });
    await call(api.base, 'POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { 'X-API-Key': key });
    await call(api.base, 'GET', '/api/v1/auth/me', undefined, { Authorization: 'Bearer not-a-token' });
    await new Promise((r) => setTimeout(r, 200));
    const secrets = [
      password,
      reg.body.accessToken,
      reg.body.refreshToken,
      login.body.accessToken,
      login.body.refreshToken,
      refreshed.body.accessToken,
      refreshed.body.refreshToken,
      key,
      key.split('.')[1]!,
      'shh-env-secret',
      'sk-env-key-value',
    ];
    const lines = api.logs.map((l) => JSON.stringify(l));
    expect(lines.length).toBeGreaterThan(3);
    // one line per request, with the request id, and credentials redacted
    const keyed = api.logs.find((l) => (l.req as { headers?: Record<string, string> })?.headers?.['x-api-key']);
    expect((keyed!.req as { headers: Record<string, string> }).headers['x-api-key']).toBe('[redacted]');
    const bearer = api.logs.find((l) => (l.req as { headers?: Record<string, string> })?.headers?.authorization);
    expect((bearer!.req as { headers: Record<string, string> }).headers.authorization).toBe('[redacted]');
    expect(api.logs.filter((l) => l.req && typeof (l.req as { id?: string }).id === 'string').length).toBeGreaterThan(8);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(lines.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
