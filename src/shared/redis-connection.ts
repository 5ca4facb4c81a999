import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';

/** A connection to standalone, Sentinel-managed or Cluster Redis (ioredis). */
export type RedisClient = Redis | Cluster;

/** Options shared by every Maestro connection. */
export interface ConnectionOptions {
  /** Command timeout in ms: a command not answered by then fails (→ 503). Not for blocking connections. */
  commandTimeoutMs?: number;
  /** Fail commands at once while disconnected instead of queueing them (API request path: true). */
  failFast?: boolean;
  /** BullMQ needs `maxRetriesPerRequest: null` on its connections. */
  forBullmq?: boolean;
  /** Client name shown in CLIENT LIST. */
  name?: string;
  /**
   * ioredis auto-pipelining: the commands of one event-loop tick leave in one socket write (the API's
   * request connection under load: fewer writes per request, same commands in Redis). Standalone and
   * Sentinel only.
   */
  autoPipelining?: boolean;
}

function hostsOf(list: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const [host, port] = hp.trim().split(':');
    return { host: host || '127.0.0.1', port: Number(port || 6379) };
  });
}

/**
 * Opens a connection from a URL:
 * - `redis://[user:pass@]host:port[/db]` and `rediss://…` (TLS): standalone;
 * - `redis-sentinel://[:pass@]h1:26379,h2:26379/<masterName>[/db]`: Sentinel;
 * - `redis-cluster://[:pass@]h1:6379,h2:6379`: Cluster (keys of one project share a hash tag).
 * Reconnects forever with capped backoff (≤ 2 s), so the process recovers by itself when Redis returns.
 */
export function createRedis(url: string, opts: ConnectionOptions = {}): RedisClient {
  const base: RedisOptions = {
    lazyConnect: false,
    connectionName: opts.name,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    enableOfflineQueue: !opts.failFast,
    maxRetriesPerRequest: opts.forBullmq ? null : opts.failFast ? 0 : 1,
    commandTimeout: opts.forBullmq ? undefined : opts.commandTimeoutMs,
    enableReadyCheck: true,
    enableAutoPipelining: Boolean(opts.autoPipelining),
  };
  const m = /^(redis-sentinel|redis-cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)(?:\/([^/]+))?(?:\/(\d+))?$/.exec(url);
  if (m && m[1] === 'redis-sentinel') {
    const [, , username, password, hosts, name, db] = m;
    return new Redis({
      ...base,
      sentinels: hostsOf(hosts!),
      name: name || 'mymaster',
      username: username || undefined,
      password: password || undefined,
      sentinelPassword: password || undefined,
      db: db ? Number(db) : 0,
    });
  }
  if (m && m[1] === 'redis-cluster') {
    const [, , username, password, hosts] = m;
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: !opts.failFast,
      // not on a Cluster: its auto-pipelines mix slots, and a page's commands answered CROSSSLOT
      redisOptions: { ...base, enableAutoPipelining: false, username: username || undefined, password: password || undefined },
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    };
    return new Cluster(hostsOf(hosts!), clusterOptions);
  }
  return new Redis(url, base);
}

/**
 * True when an error means "Redis is unreachable, too slow, or refusing writes" (→ 503 UNAVAILABLE with
 * Retry-After, contract 00 "Concurrency and retries") rather than a bug: connection errors and
 * timeouts, and the refusals OOM (maxmemory reached), READONLY (a replica), LOADING, MISCONF,
 * NOREPLICAS, BUSY/NOTBUSY, CLUSTERDOWN, TRYAGAIN, MASTERDOWN.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const msg = err.message;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|Reached the max retries|Connection (lost|closed)|BUSY|\bOOM\b|NOREPLICAS|MISCONF|NOTBUSY/.test(msg)
  );
}
