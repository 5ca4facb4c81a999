/**
 * `npm start`: one command for a single machine (DESIGN.md "Processes and how they start").
 * Runs one API replica and one worker as child processes, restarting either if it dies. Logs (its own
 * and theirs) are pretty on a terminal and JSON lines otherwise, LOG_FORMAT unset (issue 16). If nothing
 * answers at REDIS_URL (a loopback redis:// URL) and `redis-server` is on PATH, starts a local Redis
 * with its data under ~/.maestro/redis (append-only file on) and says so in the log.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './shared/config.js';
import { ConfigError } from './shared/errors.js';
import { createLogger, startPrettyLogs } from './shared/logger.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Resolves true when a TCP connection to host:port opens within `timeoutMs`. */
function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }
  // Pretty on a terminal, JSON lines otherwise, unless LOG_FORMAT says (issue 16); the children are told too.
  const pretty = startPrettyLogs(config.LOG_FORMAT);
  const logger = createLogger('start', config.LOG_LEVEL, pretty);
  let redisChild: ChildProcess | undefined;
  const url = new URL(config.REDIS_URL.replace(/^redis-(sentinel|cluster):/, 'redis:'));
  const host = url.hostname || '127.0.0.1';
  const port = Number(url.port || 6379);
  const loopback = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);
  if (config.REDIS_URL.startsWith('redis://') && loopback && !(await reachable(host, port))) {
    if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0) {
      const dir = join(homedir(), '.maestro', 'redis');
      mkdirSync(dir, { recursive: true });
      redisChild = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes'], {
        stdio: 'ignore',
      });
      for (let i = 0; i < 100 && !(await reachable(host, port, 200)); i++) await new Promise((r) => setTimeout(r, 100));
      logger.info({ port, dir }, `No Redis answered at ${config.REDIS_URL}: started a local redis-server (data in ${dir}, append-only file on)`);
    } else {
      logger.warn(`No Redis answers at ${config.REDIS_URL} and no redis-server is on PATH: the API answers 503 until Redis is reachable`);
    }
  }

  // The worker runs `maestro manifest generate`; unless told otherwise, use this package's own CLI
  // (a fresh machine has no global `maestro` on PATH).
  const env = { ...process.env };
  if (!env.MAESTRO_CLI_PATH) env.MAESTRO_CLI_PATH = join(here, 'cli', 'index.js');
  // The children write to the same stdout: the same format as this process, whatever NODE_ENV is.
  if (!config.LOG_FORMAT) env.LOG_FORMAT = pretty ? 'pretty' : 'json';
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const run = (name: string, script: string, restarts = 0) => {
    const child = spawn(process.execPath, [join(here, script)], { stdio: 'inherit', env });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (stopping) return;
      const delay = Math.min(500 * 2 ** restarts, 10_000);
      logger.error({ name, code, signal, restartInMs: delay }, `${name} exited; restarting`);
      setTimeout(() => run(name, script, restarts + 1), delay);
    });
  };
  run('api', 'api/server.js');
  run('worker', 'worker/index.js');

  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    if (redisChild && redisChild.exitCode === null) {
      await new Promise<void>((resolve) => {
        redisChild!.once('exit', () => resolve());
        redisChild!.kill('SIGTERM');
      });
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

void main();
