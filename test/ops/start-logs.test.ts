import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const root = resolve(import.meta.dirname, '../..');
const hasScript = !spawnSync('script', ['--version']).error;
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** Strips ANSI colour codes and carriage returns (a pseudo-TTY writes CRLF). */
const plain = (s: string) => stripVTControlCharacters(s).replace(/\r/g, '');

/**
 * Runs `node dist/start.js` (`npm start` without the build) until both the API and the worker have
 * logged that they started, then stops it with SIGTERM (it stops its children and exits 0); resolves
 * with everything it printed. `tty`: under `script`, which gives it a pseudo-terminal as stdout.
 */
async function runStart(tty: boolean, extra: Record<string, string> = {}): Promise<{ out: string; code: number | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-start-logs-'));
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    MAESTRO_REDIS_PREFIX: `sl${Date.now()}:`,
    MAESTRO_AUTH: 'disabled',
    METRICS_PORT: '0',
    SESSION_DIR: join(dir, 'sessions'),
    DATA_DIR: join(dir, 'data'),
    SKILLS_DIR: join(dir, 'skills'),
    // what a shell may have exported: under `npm start` a terminal still gets pretty lines (issue 16)
    NODE_ENV: 'production',
    LOG_FORMAT: undefined,
    ...extra,
  };
  const pidFile = join(dir, 'start.pid');
  const start = `node ${JSON.stringify(join(root, 'dist/start.js'))}`;
  const child = tty
    ? spawn('script', ['-qfec', `sh -c 'echo $$ > ${pidFile}; exec ${start}'`, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [join(root, 'dist/start.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const startPid = () => (tty ? (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined) : child.pid);
  try {
    const deadline = Date.now() + 20_000;
    while (!(plain(out).includes('Maestro worker started') && plain(out).includes('Maestro API listening'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    const pid = startPid();
    if (pid) process.kill(pid, 'SIGTERM');
    else child.kill('SIGTERM');
  }
  return { out: plain(out), code: await exited };
}

/** Lines of `out` that are JSON log records. */
const jsonLines = (out: string) =>
  out.split('\n').filter((l) => {
    try {
      return typeof (JSON.parse(l) as { msg?: unknown }).msg === 'string';
    } catch {
      return false;
    }
  });

describe('npm start logs (issue 16, item 2)', () => {
  it('on a terminal: pretty lines from start, API and worker, even with NODE_ENV=production', async (ctx) => {
    if (!hasScript) ctx.skip();
    const { out, code } = await runStart(true);
    expect(code).toBe(0);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(worker\): Maestro worker started$/m);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(api\): Maestro API listening on /m);
    expect(jsonLines(out)).toEqual([]);
  }, 30_000);

  it('on a terminal with LOG_FORMAT=json: JSON lines', async (ctx) => {
    if (!hasScript) ctx.skip();
    const { out, code } = await runStart(true, { LOG_FORMAT: 'json' });
    expect(code).toBe(0);
    const msgs = jsonLines(out).map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toContain('Maestro worker started');
    expect(out).not.toMatch(/INFO \(worker\):/);
  }, 30_000);

  it('without a terminal (piped): JSON lines only', async () => {
    const { out, code } = await runStart(false);
    expect(code).toBe(0);
    const lines = out.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(2);
    expect(jsonLines(out)).toEqual(lines);
    expect(lines.map((l) => (JSON.parse(l) as { name: string; msg: string }).msg)).toContain('Maestro worker started');
  }, 30_000);
});
