import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startApiProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

// Issue 16: the Helm chart's pods have a read-only home, so the first admin's credentials come from a
// Secret as MAESTRO_ADMIN_EMAIL / MAESTRO_ADMIN_PASSWORD (deploy/helm/maestro/templates/secret-admin.yaml).
const root = resolve(import.meta.dirname, '../..');
let redis: TestRedis;
let api: ApiProcess | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await api?.kill('SIGTERM');
  await redis?.stop();
});

describe('the first admin from MAESTRO_ADMIN_EMAIL / MAESTRO_ADMIN_PASSWORD', () => {
  it('is created with that password on a first start (credentials file not writable) and can log in', async () => {
    const password = 'c0rrect-horse-battery-staple';
    // a path below a file: nothing can be created there, even as root (the chart's read-only home)
    const file = '/dev/null/credentials';
    api = await startApiProcess(redis.url, 'admin-env:', {
      MAESTRO_AUTH: 'required',
      MAESTRO_ADMIN_EMAIL: 'Ops@Example.com',
      MAESTRO_ADMIN_PASSWORD: password,
      MAESTRO_CREDENTIALS_FILE: file,
      LOG_FORMAT: 'json',
    });
    const deadline = Date.now() + 10_000;
    let login = await call(api.base, 'POST', '/api/v1/auth/login', { email: 'ops@example.com', password });
    while (login.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100)); // bootstrap runs once Redis answers
      login = await call(api.base, 'POST', '/api/v1/auth/login', { email: 'ops@example.com', password });
    }
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(typeof login.body.accessToken).toBe('string');
    const me = await call(api.base, 'GET', '/api/v1/auth/me', undefined, { authorization: `Bearer ${login.body.accessToken}` });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: 'ops@example.com', admin: true });
    expect((await call(api.base, 'POST', '/api/v1/auth/login', { email: 'admin@localhost', password })).status).toBe(401);
    expect((await call(api.base, 'POST', '/api/v1/auth/login', { email: 'ops@example.com', password: 'wrong-password' })).status).toBe(401);
    expect(existsSync(file)).toBe(false);
    // the key and the file come after the user: wait for the log line that ends the bootstrap
    while (!api.logs.some((l) => String(l.msg).startsWith('First start')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const logged = JSON.stringify(api.logs);
    expect(logged).toContain('created the admin ops@example.com');
    expect(logged).not.toContain(password); // never in logs
  }, 30_000);

  /** Runs `node dist/api/server.js` with `env` and resolves with its exit code and stderr. */
  function runApi(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-admin-env-'));
    const child = spawn(process.execPath, [join(root, 'dist/api/server.js')], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', REDIS_URL: redis.url, MAESTRO_REDIS_PREFIX: 'admin-bad:', DATA_DIR: dir, SESSION_DIR: dir, SKILLS_DIR: dir, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    return new Promise((r) => child.once('exit', (code) => r({ code, stderr })));
  }

  it('a too-short password (or one of the two alone) fails start-up loudly, exit 1, without showing the value', async () => {
    const short = await runApi({ MAESTRO_ADMIN_EMAIL: 'ops@example.com', MAESTRO_ADMIN_PASSWORD: 'shortpw' });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('Invalid configuration: MAESTRO_ADMIN_PASSWORD must be 8 to 1024 characters, got 7; the value is not shown');
    expect(short.stderr).not.toContain('shortpw');
    const alone = await runApi({ MAESTRO_ADMIN_PASSWORD: 'long-enough-password' });
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('Invalid configuration: MAESTRO_ADMIN_EMAIL must be set with MAESTRO_ADMIN_EMAIL and MAESTRO_ADMIN_PASSWORD both or neither');
    const badEmail = await runApi({ MAESTRO_ADMIN_EMAIL: 'not-an-email', MAESTRO_ADMIN_PASSWORD: 'long-enough-password' });
    expect(badEmail.code).toBe(1);
    expect(badEmail.stderr).toContain("Invalid configuration: MAESTRO_ADMIN_EMAIL must be an email address, got 'not-an-email'");
  }, 30_000);
});
