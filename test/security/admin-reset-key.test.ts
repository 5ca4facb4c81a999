import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { authEnv } from '../helpers/auth-world.js';
import { runCli } from '../helpers/cli.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 14 §3: when the first start cannot write its credentials file (a read-only home, as in the
 * Helm chart), the admin it created is not lost for good: `maestro admin reset-key` mints a key for
 * it against Redis.
 */
let redis: TestRedis;
let h: Harness;
const dir = mkdtempSync(join(tmpdir(), 'reset-key-'));
const blocker = join(dir, 'not-a-dir');

beforeAll(async () => {
  redis = await startRedis();
  writeFileSync(blocker, 'a file where the credentials directory should be');
  // mkdir under a regular file fails even for root: the file cannot be written
  h = await startHarness(redis.url, authEnv(join(blocker, 'credentials')));
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

describe('maestro admin reset-key', () => {
  it('the replica starts although it could not write the credentials; a key minted against Redis works as the admin', async () => {
    const cli = (args: string[]) => runCli(['--json', 'admin', 'reset-key', '--redis', redis.url, '--prefix', h.prefix, ...args], { MAESTRO_RETRIES: '1' });
    let r = await cli([]);
    for (let i = 0; i < 50 && r.status !== 0; i++) {
      await new Promise((res) => setTimeout(res, 100)); // the first start's admin is made just after listen
      r = await cli([]);
    }
    expect(r.status).toBe(0);
    const minted = JSON.parse(r.stdout).data as { email: string; apiKey: string };
    expect(minted.email).toBe('admin@localhost');
    const me = await h.req('GET', '/api/v1/auth/me', undefined, { 'x-api-key': minted.apiKey });
    expect(me.status, JSON.stringify(me.body) + ' ' + minted.apiKey).toBe(200);
    expect(JSON.stringify(me.body)).toContain('admin@localhost');
    // --write keeps it in a credentials file the CLI then reads
    const file = join(dir, 'written', 'credentials');
    const w = JSON.parse((await cli(['--write', file, '--api-url', h.base])).stdout).data as { apiKey: string };
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ apiUrl: h.base, apiKey: w.apiKey });
    const projects = await runCli(['--json', 'project', 'list'], { MAESTRO_CREDENTIALS_FILE: file, MAESTRO_API_URL: '', MAESTRO_API_KEY: '', MAESTRO_RETRIES: '1' });
    expect([projects.status, JSON.parse(projects.stdout).success]).toEqual([0, true]);
    // over an existing world-readable file the new key still lands in a 0600 file
    const loose = join(dir, 'loose-credentials');
    writeFileSync(loose, '{}', { mode: 0o644 });
    chmodSync(loose, 0o644);
    expect((await cli(['--write', loose, '--api-url', h.base])).status).toBe(0);
    expect(statSync(loose).mode & 0o777).toBe(0o600);
    const unknown = await cli(['--email', 'nobody@example.com']);
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ success: false, error: 'resource_not_found' });
  });
});
