import { readFileSync } from 'node:fs';
import type { ClientRateLimitInfo, IncrementResponse, Options, Store } from 'express-rate-limit';
import { ConfigError } from '../../shared/errors.js';
import type { RedisClient } from '../../shared/redis-connection.js';

const LUA = readFileSync(new URL('./rate-lease.lua', import.meta.url), 'utf8');
const COMMAND = 'maestroRateLease';

type LeasingRedis = RedisClient & { [COMMAND](key: string, block: string, windowMs: string): Promise<[number, number]> };

/** A block of hits this replica holds for one key in the current window. */
interface Lease {
  /** Number of the next hit served from the block (1-based over the whole cluster's window). */
  next: number;
  /** Number of the block's last hit. */
  last: number;
  /** When the window ends (ms since the epoch), from the counter's PTTL. */
  resetAt: number;
  /** The same as a Date, handed to every hit of the block (never changed). */
  resetTime: Date;
}

/** What a leased store is built from (config RATE_LIMIT_LEASE_DIVISOR, RATE_LIMIT_LOCAL_KEYS). */
export interface LeasedRateStoreOptions {
  /** The connection the counters live on (standalone, Sentinel or Cluster). */
  redis: RedisClient;
  /** Prefix of the counters' keys (`<MAESTRO_REDIS_PREFIX>rl:<limiter>:`); also express-rate-limit's `prefix`. */
  prefix: string;
  /** A block is max(1, floor(limit / leaseDivisor)) hits (RATE_LIMIT_LEASE_DIVISOR, default 100). */
  leaseDivisor: number;
  /** Keys whose leases one replica keeps at most; the oldest lease is dropped first (RATE_LIMIT_LOCAL_KEYS). */
  maxKeys: number;
}

/**
 * An express-rate-limit `Store` whose counters live in Redis, shared by every replica, without a Redis
 * round trip per request (issue 12: the limiter cost ~40 µs of Redis and ~100 µs of replica CPU per
 * request). A replica leases a block of B = max(1, floor(limit / leaseDivisor)) hits of a key's window
 * at once — one script call (rate-lease.lua: INCRBY of the shared counter by B, the window's expiry
 * set with the first lease) — numbers the hits it serves from that block, and leases the next block
 * when the block is spent or the window over. Concurrent requests of one key wait for one lease.
 *
 * Every hit in the cluster gets its own number in the window, and the limiter refuses a number above
 * the limit, so **no more than `limit` requests pass per window**, however many replicas. The price is
 * on the other side: the hits of a block a replica has not used yet are spent for everyone else, so a
 * client may be refused after as few as `limit − replicas × (B − 1)` requests if it stops using one
 * replica in the middle of a block (with the default divisor: at most 1 % of the limit per replica).
 * For a limit below 2 × leaseDivisor B is 1 and every hit is counted in Redis exactly (as
 * `test/security/limits.test.ts` requires: the 11th request through either of two replicas is 429);
 * a limit of 10,000 a minute costs one Redis call per 100 requests per key.
 *
 * Redis away: a request whose key has no hits left in its block fails at once (no offline queue), so
 * with `passOnStoreError` it passes, and answers 503 by itself. The script is sent by EVALSHA with a
 * fallback to EVAL on NOSCRIPT (ioredis `defineCommand`), on the master of the key's slot in a
 * Cluster, so it works after a restart, a failover or a `SCRIPT FLUSH` as well.
 */
export class LeasedRateStore implements Store {
  /** Counts are shared through Redis (express-rate-limit's double-count checks). */
  readonly localKeys = false;
  readonly prefix: string;
  private readonly redis: LeasingRedis;
  private readonly leases = new Map<string, Lease>();
  private readonly pending = new Map<string, Promise<Lease>>();
  private windowMs = 60_000;
  private block = 1;

  constructor(private readonly o: LeasedRateStoreOptions) {
    this.prefix = o.prefix;
    if (!(COMMAND in o.redis)) o.redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: LUA });
    this.redis = o.redis as LeasingRedis;
  }

  /** Takes the window and the limit from the limiter's options; the limit must be a number. */
  init(options: Options): void {
    if (typeof options.limit !== 'number' || !Number.isInteger(options.limit) || options.limit < 1) {
      throw new ConfigError(`Invalid configuration: a leased rate limit must be a whole number ≥ 1 (got ${String(options.limit)})`);
    }
    this.windowMs = options.windowMs;
    this.block = Math.max(1, Math.floor(options.limit / Math.max(1, this.o.leaseDivisor)));
  }

  /** Hits per lease (B), for tests and the docs. */
  get blockSize(): number {
    return this.block;
  }

  /** The hit's number in the cluster's window and when the window ends; a Redis call only for a new block. */
  increment(key: string): IncrementResponse | Promise<IncrementResponse> {
    const lease = this.leases.get(key);
    if (lease && lease.next <= lease.last && lease.resetAt > Date.now()) return this.hit(lease);
    return this.leaseThenHit(key);
  }

  /** Gives the last hit back to this replica's block, if it is still the current one (never to Redis). */
  decrement(key: string): void {
    const lease = this.leases.get(key);
    if (lease && lease.resetAt > Date.now()) lease.next = Math.max(lease.next - 1, lease.last - this.block + 1);
  }

  /** What this replica knows of a key: the hits numbered so far in its window (undefined without a lease). */
  get(key: string): ClientRateLimitInfo | undefined {
    const lease = this.leases.get(key);
    if (!lease || lease.resetAt <= Date.now()) return undefined;
    return { totalHits: lease.next - 1, resetTime: new Date(lease.resetAt) };
  }

  /** Starts the key's window again for every replica (deletes the counter) and drops this replica's lease. */
  async resetKey(key: string): Promise<void> {
    this.leases.delete(key);
    await this.redis.del(this.prefix + key);
  }

  private hit(lease: Lease): IncrementResponse {
    return { totalHits: lease.next++, resetTime: lease.resetTime };
  }

  private async leaseThenHit(key: string): Promise<IncrementResponse> {
    for (;;) {
      let p = this.pending.get(key);
      if (!p) {
        p = this.take(key).finally(() => this.pending.delete(key));
        this.pending.set(key, p);
      }
      const lease = await p;
      if (lease.next <= lease.last && lease.resetAt > Date.now()) return this.hit(lease);
      // the requests that waited with this one used the block up: take another
    }
  }

  private async take(key: string): Promise<Lease> {
    if (this.redis.status !== 'ready') throw new Error('Redis unavailable: rate limit not counted');
    const [counter, ttlMs] = await this.redis[COMMAND](this.prefix + key, String(this.block), String(this.windowMs));
    const resetAt = Date.now() + Number(ttlMs);
    const lease: Lease = { next: Number(counter) - this.block + 1, last: Number(counter), resetAt, resetTime: new Date(resetAt) };
    this.leases.delete(key);
    this.leases.set(key, lease);
    this.prune();
    return lease;
  }

  /** Keeps at most maxKeys leases: expired ones at the old end go, then the oldest if still over. */
  private prune(): void {
    const now = Date.now();
    for (let i = 0; i < 2; i++) {
      const oldest = this.leases.entries().next().value as [string, Lease] | undefined;
      if (!oldest || (oldest[1].resetAt > now && this.leases.size <= this.o.maxKeys)) break;
      this.leases.delete(oldest[0]);
    }
  }
}
