/**
 * Tools for the fault suite (test/faults): nginx in front of API processes, load loops that record
 * every request's outcome, a WebSocket client that resumes with `?since=` after every close, and
 * readings of a process's RSS and of the Redis connections it holds. Everything runs against servers
 * the tests start themselves (never the machine's Redis).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { freePort, startRedis, type TestRedis } from './redis-server.js';
import { call, startApiProcess, type ApiProcess } from './processes.js';
import { nginxConf, waitForPort, type ProxyTimeouts } from '../../src/local-cluster.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The nginx binary: `nginx` on PATH, else the Debian location. */
export function nginxBinary(): string | undefined {
  for (const bin of ['nginx', '/usr/sbin/nginx']) if (!spawnSync(bin, ['-v'], { stdio: 'ignore' }).error) return bin;
  return undefined;
}

/** A running nginx load balancer. */
export interface Nginx {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts nginx on a free loopback port in front of `apiPorts` with the local cluster's configuration
 * (src/local-cluster.ts `nginxConf`, the settings of deploy/nginx/nginx.conf), plus enough connections
 * for 1,000 clients; `timeouts` (seconds) override the production proxy timeouts, e.g. `{ http: 3 }`
 * so that a frozen replica is given up in 3 s.
 */
export async function startNginx(apiPorts: number[], opts: { timeouts?: Partial<ProxyTimeouts> } = {}): Promise<Nginx> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'maestro-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const conf = nginxConf(port, apiPorts, dir, { workerConnections: 8192, errorLog: 'crit', timeouts: opts.timeouts });
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`nginx exited (${code}): ${stderr}`))));
  await Promise.race([waitForPort(port, 'nginx'), exited]);
  exited.catch(() => undefined);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.removeAllListeners('exit');
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGQUIT');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Parent pid of a process (Linux /proc), or undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** True while a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** `CLIENT LIST` of a Redis, one record per connection (`name`, `addr`, `cmd`, …). */
export async function clientList(redis: Redis): Promise<Record<string, string>[]> {
  const text = (await redis.call('CLIENT', 'LIST')) as string;
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
}

/** A project's event stream, oldest first: `{ id, type, data }`. */
export async function streamEvents(redis: Redis, prefix: string, projectId: string): Promise<{ id: string; type: string; data: any }[]> {
  const entries = await redis.xrange(`${prefix}{${projectId}}:events`, '-', '+');
  return entries.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    return { id, type: f.type!, data: JSON.parse(f.data ?? 'null') };
  });
}

/** Compares two stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}

/** Outcome of one HTTP request of a load loop. */
export interface Outcome {
  /** HTTP status, or 0 for a connection-level failure (refused, reset, …). */
  status: number;
  body: any;
  retryAfter: string | null;
  start: number;
  end: number;
  /** What the request was about (e.g. the unique title it wrote). */
  tag: string;
  /** `Idempotent-Replayed: true` was on the answer (a stored response of an Idempotency-Key). */
  replayed?: boolean;
  error?: string;
}

/** One request with a hard client-side timeout; never throws (a failure is status 0). */
export async function attempt(base: string, method: string, path: string, body: unknown, tag: string, timeoutMs = 15_000, headers: Record<string, string> = {}): Promise<Outcome> {
  const start = Date.now();
  try {
    const res = await call(base, method, path, body, headers, timeoutMs);
    return { status: res.status, body: res.body, retryAfter: res.headers.get('retry-after'), replayed: res.headers.get('idempotent-replayed') === 'true', start, end: Date.now(), tag };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { status: 0, body: undefined, retryAfter: null, start, end: Date.now(), tag, error: e.cause?.code ?? e.cause?.message ?? e.name };
  }
}

/** A set of request loops running until stopped; every outcome is kept. */
export interface Load {
  outcomes: Outcome[];
  /** Stops issuing requests and resolves once the ones in flight have finished. */
  stop(): Promise<void>;
}

/**
 * Runs `concurrency` loops, each issuing `next(seq)` one after another (seq is global and unique)
 * until stopped; `pauseMs` between two requests of a loop.
 */
export function runLoad(concurrency: number, next: (seq: number) => Promise<Outcome>, pauseMs = 0): Load {
  const outcomes: Outcome[] = [];
  let running = true;
  let seq = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      outcomes.push(await next(seq++));
      if (pauseMs) await sleep(pauseMs);
    }
  });
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Counts of statuses, e.g. `{ "201": 812, "502": 3, "conn:ECONNRESET": 1 }`. */
export function statusCounts(outcomes: Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.status === 0 ? `conn:${o.error}` : String(o.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** p-th percentile (0–100) of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Order-sensitive 32-bit digest of a sequence of ids (so 1,000 clients need not keep their ids). */
export function digest(prev: number, id: string): number {
  let h = prev ^ 0x9e3779b9;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (Math.imul(prev, 31) + h) | 0;
}

/**
 * A WebSocket client that follows one project and, after every close, reconnects with
 * `?since=<last id>` (contract 03/00 "Replay"). Keeps only a count, the last id and a digest of the ids
 * in order, plus the ids themselves when `keepIds`. Ids that do not increase are counted as
 * `outOfOrder` (a duplicate or a reordering).
 */
export class ResumingClient {
  ws?: WebSocket;
  lastId: string;
  count = 0;
  hash = 0;
  outOfOrder = 0;
  ids?: string[];
  /** Data ids (`data.id`) of the events, when `keepIds`. */
  dataIds?: string[];
  connects = 0;
  resyncs = 0;
  closeCodes: number[] = [];
  /** When the latest connection closed, and when the next one opened (for reconnect times). */
  lastCloseAt = 0;
  reconnectMs: number[] = [];
  private stopped = false;

  constructor(
    private readonly wsUrl: () => string,
    private readonly projectId: string,
    startId: string,
    keepIds = false,
    private readonly retryMs = () => 50 + Math.random() * 200,
  ) {
    this.lastId = startId;
    if (keepIds) {
      this.ids = [];
      this.dataIds = [];
    }
  }

  /** Connects (with `since`); resolves once open. Retries until `timeoutMs`. */
  async open(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        if (this.stopped || Date.now() > deadline) throw err;
        await sleep(this.retryMs());
      }
    }
  }

  private connectOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.wsUrl()}/?since=${this.lastId}`, { perMessageDeflate: false });
      let opened = false;
      ws.on('message', (raw) => this.onMessage(ws, String(raw)));
      ws.once('open', () => {
        opened = true;
        this.ws = ws;
        this.connects++;
        if (this.lastCloseAt) this.reconnectMs.push(Date.now() - this.lastCloseAt);
        resolve();
      });
      ws.on('error', (err) => {
        if (!opened) reject(err);
      });
      ws.once('close', (code) => {
        if (!opened) return reject(new Error(`closed before open (${code})`));
        this.closeCodes.push(code);
        this.lastCloseAt = Date.now();
        if (!this.stopped) void sleep(this.retryMs()).then(() => (this.stopped ? undefined : this.open(60_000).catch(() => undefined)));
      });
    });
  }

  private onMessage(ws: WebSocket, text: string): void {
    const m = JSON.parse(text) as { type?: string; event?: string; id?: string; projectId?: string; data?: { id?: string } };
    if (m.type === 'resync_required') {
      // The server could not replay (e.g. Redis not back yet): ask again with the same position.
      this.resyncs++;
      ws.close();
      return;
    }
    if (!m.event || m.projectId !== this.projectId || !m.id) return;
    if (compareIds(m.id, this.lastId) <= 0) {
      this.outOfOrder++;
      return;
    }
    this.lastId = m.id;
    this.count++;
    this.hash = digest(this.hash, m.id);
    this.ids?.push(m.id);
    if (m.data?.id) this.dataIds?.push(m.data.id);
  }

  /** Stops reconnecting and closes. */
  close(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

/** Polls `pred` every 20 ms until it holds; throws `what` after `timeoutMs`. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Every task of a project, through the API's paginated list (`limit=1000` + `X-Next-Cursor`). */
export async function listTasks(base: string, projectId: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res: Response = await fetch(`${base}/api/v1/tasks?projectId=${projectId}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (res.status !== 200) throw new Error(`list tasks answered ${res.status}`);
    out.push(...((await res.json()) as any[]));
    cursor = res.headers.get('x-next-cursor');
  } while (cursor);
  return out;
}

/**
 * Rate limits far above any test's load, so that no write is refused with 429; the per-IP connection
 * cap too (every client here, nginx included, connects from 127.0.0.1: 1,000 WebSockets on one
 * replica after a kill plus the writer would pass MAX_CONNECTIONS_PER_IP's default of 1,000).
 */
export const UNLIMITED = { RATE_LIMIT_PER_MINUTE: '10000000', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '10000000', MAX_CONNECTIONS_PER_IP: '1000000' };

/** The deployment in small: a Redis of the test's own, two API replicas (NODE_ID a, b) and nginx. */
export interface BalancedPair {
  redis: TestRedis;
  /** A raw client of that Redis, for checks. */
  raw: Redis;
  /** The replicas, [a, b]. */
  procs: ApiProcess[];
  nginx: Nginx;
  /** Kills everything (SIGKILL for the replicas) and stops Redis. */
  stop(): Promise<void>;
}

/** Starts a BalancedPair under key prefix `prefix` (AOF on when `appendonly`), limits off. */
export async function startBalancedPair(prefix: string, opts: { appendonly?: boolean } = {}): Promise<BalancedPair> {
  const redis = await startRedis(opts);
  const raw = new Redis(redis.url);
  const procs = await Promise.all(['a', 'b'].map((id) => startApiProcess(redis.url, prefix, { ...UNLIMITED, NODE_ID: id })));
  const nginx = await startNginx(procs.map((p) => p.port));
  return {
    redis,
    raw,
    procs,
    nginx,
    stop: async () => {
      await nginx.stop();
      await Promise.all(procs.map((p) => p.kill('SIGKILL')));
      raw.disconnect();
      await redis.stop();
    },
  };
}

