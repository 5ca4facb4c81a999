import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway Redis server started for a test run (never the machine's own). */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and data dir (AOF keeps data when `appendonly`). */
  restart(): Promise<void>;
  /** Sends a signal to the server process (SIGSTOP stalls it, SIGCONT resumes it). */
  signal(sig: NodeJS.Signals): void;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const hasBinary = () => spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const { Redis } = await import('ioredis');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error(`redis on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Starts a Redis server on a free port: the `redis-server` binary when on PATH (data in a temp dir,
 * AOF on when `appendonly`), else a testcontainers Redis container.
 */
export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  if (!hasBinary()) return startContainer();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'maestro-redis-'));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--enable-debug-command', 'yes'],
      { stdio: 'ignore' },
    );
    await waitForPing(port);
  };
  await launch();
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const stop = async (hard = false) => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async (hard) => {
      await stop(hard);
    },
    restart: launch,
    signal: (sig) => {
      child?.kill(sig);
    },
  };
}

async function startContainer(): Promise<TestRedis> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7').start();
  const port = container.getPort();
  return {
    url: container.getConnectionUrl(),
    port,
    stop: async () => {
      await container.stop();
    },
    restart: async () => {
      throw new Error('restart is not supported with testcontainers');
    },
    signal: () => {
      throw new Error('signals are not supported with testcontainers');
    },
  };
}
