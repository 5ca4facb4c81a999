import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');

/** A real API process (`node dist/api/server.js`) started by a test. */
export interface ApiProcess {
  child: ChildProcess;
  port: number;
  base: string;
  /** Log lines (parsed JSON) seen so far. */
  logs: Record<string, unknown>[];
  /** Sends `signal` and resolves with the exit code once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node dist/api/server.js` (run `npm run build` first; `npm test` does) on a free port with
 * the given Redis URL and key prefix; resolves once it logs that it listens.
 */
export function startApiProcess(redisUrl: string, prefix: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  return startNodeProcess('dist/api/server.js', redisUrl, prefix, env, (e) => typeof e.port === 'number' && String(e.msg).includes('listening'));
}

/** `N` values of `T` as a tuple type (so `const [a, b] = …` needs no `!`). */
type Tuple<T, N extends number, R extends T[] = []> = R['length'] extends N ? R : Tuple<T, N, [...R, T]>;

/** Starts `count` API processes at once on one Redis and key prefix, with the same `env`: replicas. */
export async function startApiProcesses<N extends number>(count: N, redisUrl: string, prefix: string, env: Record<string, string> = {}): Promise<Tuple<ApiProcess, N>> {
  return (await Promise.all(Array.from({ length: count }, () => startApiProcess(redisUrl, prefix, env)))) as Tuple<ApiProcess, N>;
}

/** Starts `node dist/worker/index.js`; resolves once it logs that it started (its `port` is 0). */
export function startWorkerProcess(redisUrl: string, prefix: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  return startNodeProcess('dist/worker/index.js', redisUrl, prefix, env, (e) => String(e.msg).includes('Maestro worker started'));
}

function startNodeProcess(
  script: string,
  redisUrl: string,
  prefix: string,
  env: Record<string, string>,
  ready: (entry: Record<string, unknown>) => boolean,
): Promise<ApiProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-proc-'));
  const child = spawn(process.execPath, [join(root, script)], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      MAESTRO_REDIS_PREFIX: prefix,
      MAESTRO_AUTH: 'disabled',
      LOG_LEVEL: 'info',
      SKILLS_DIR: join(dir, 'skills'),
      SESSION_DIR: join(dir, 'sessions'),
      DATA_DIR: join(dir, 'data'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in time`)), 15_000);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited early (${code}): ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (ready(entry)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const port = typeof entry.port === 'number' ? entry.port : 0;
        resolvePromise({
          child,
          port,
          base: `http://127.0.0.1:${port}`,
          logs,
          kill: (signal = 'SIGTERM') =>
            new Promise((res) => {
              if (child.exitCode !== null || child.signalCode !== null) return res(child.exitCode);
              child.once('exit', (code) => res(code));
              child.kill(signal);
            }),
        });
      }
    });
  });
}

/**
 * `fetch` returning `{ status, body, headers }`, the body parsed as JSON when possible (else its text);
 * a string `body` is sent as is (e.g. malformed JSON), anything else as JSON. With `timeoutMs` the
 * request is aborted after that many ms (the promise rejects with a TimeoutError).
 */
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs?: number) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * A GET with the path sent exactly as given (fetch and URL would normalise `..` or bad `%` escapes);
 * resolves with the status and the body text.
 */
export function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}
