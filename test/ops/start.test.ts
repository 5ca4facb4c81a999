import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.js';

const root = resolve(import.meta.dirname, '../..');
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe('npm start (dist/start.js)', () => {
  it('Ctrl-C (SIGINT to the whole process group) stops the API and the worker gracefully, exit 0', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'maestro-start-'));
    // its own process group, as a terminal's foreground job is
    const child = spawn(process.execPath, [join(root, 'dist/start.js')], {
      detached: true,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        MAESTRO_REDIS_PREFIX: `st${port}:`,
        MAESTRO_AUTH: 'disabled',
        METRICS_PORT: '0',
        SESSION_DIR: join(dir, 'sessions'),
        DATA_DIR: join(dir, 'data'),
        SKILLS_DIR: join(dir, 'skills'),
        LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: { name?: string; msg?: string }[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        logs.push(JSON.parse(l) as { name?: string; msg?: string });
      } catch {
        /* not JSON */
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 20_000;
    while (!(logs.some((l) => l.msg?.includes('listening')) && logs.some((l) => l.msg === 'Maestro worker started'))) {
      if (Date.now() > deadline) throw new Error(`did not start: ${JSON.stringify(logs)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    const names = (msg: string) => logs.filter((l) => l.msg === msg).map((l) => l.name).sort();
    expect(names('shutting down')).toEqual(['api', 'worker']);
    expect(logs.filter((l) => l.msg === 'second signal: forcing exit')).toEqual([]);
  }, 40_000);
});
