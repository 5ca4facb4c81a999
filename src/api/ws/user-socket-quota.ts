import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Keys } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Principal } from '../../shared/principal.js';
import { isRedisUnavailable, type RedisClient } from '../../shared/redis-connection.js';

const LUA = readFileSync(new URL('./user-sockets.lua', import.meta.url), 'utf8');

/** A replica instance's sockets count for the cap while it has reported to the registry within this many ms. */
export const REPLICA_STALE_MS = 15_000;
/** Instances not seen for this long are removed from the registry (each start adds one). */
const REGISTRY_PRUNE_MS = 3_600_000;
/**
 * A field of a replica instance that is not live is deleted once it has not been written for this
 * many ms. Longer than the registry's staleness plus a refresh period, so that a replica that has
 * just started (not yet in another replica's list of live instances) never loses its field.
 */
const FIELD_GC_MS = 60_000;
/** Users whose count is written again per heartbeat after failed writes (spreads a recovery). */
const RESYNC_PER_HEARTBEAT = 1000;

/** One admitted socket; `release` once it has closed (idempotent). */
export interface SocketLease {
  release(): void;
}

const UNCAPPED: SocketLease = Object.freeze({ release: () => undefined });

type Reply = [admitted: number, count: number];
type WithScript = RedisClient & {
  maestroWsUserSockets(key: string, own: string, count: number, cap: number, gcMs: number, ...live: string[]): Promise<Reply>;
};

/** What the quota needs. */
export interface UserSocketQuotaOptions {
  /** Command connection (fail-fast: a Redis that is away answers at once). */
  redis: RedisClient;
  keys: Keys;
  /** This replica's NODE_ID (the readable part of its instance id). */
  nodeId: string;
  /** Sockets one user may hold across the cluster (WS_MAX_CONNECTIONS_PER_USER). */
  limit: number;
  logger: Logger;
}

/**
 * The per-user WebSocket cap across the cluster (contract 00 "Events" and "Tenancy limits": a user
 * holds at most WS_MAX_CONNECTIONS_PER_USER sockets; over it → close 1013).
 *
 * Counting: one hash per user (`Keys.wsUserSockets`, under the user's hash tag `{u:<id>}`) with one
 * field per replica *instance* (`<nodeId>#<random>`, new at every start, so a replica restarted
 * under the same NODE_ID never inherits the counts of its previous life) holding that instance's
 * count of the user's sockets. A connect runs one script (user-sockets.lua) that sums the fields of
 * the live instances, admits if the sum stays within the cap and writes this instance's new count;
 * a disconnect runs the same script without the check. Each costs O(replicas), whatever the number
 * of users or sockets.
 *
 * Liveness: every heartbeat (with the gateway's 5 s `ws:nodes` report) this instance reports itself
 * in the instance registry `Keys.wsInstances` (sorted set, score = ms of its last report; keyed by
 * instance rather than NODE_ID, so it holds even if two replicas were given the same NODE_ID) and
 * reads the instances seen within REPLICA_STALE_MS. Fields of other instances are not counted, so a
 * replica killed with its sockets stops counting at most REPLICA_STALE_MS plus one heartbeat after
 * its last report (≤ 20 s); its fields are deleted by the next script that meets them FIELD_GC_MS
 * after their last write, and the instance leaves the registry after REGISTRY_PRUNE_MS. Replicas'
 * clocks are compared, as for `ws:nodes`: they must agree to well within REPLICA_STALE_MS.
 *
 * Failures: the counts written are absolute (this instance's count, not +1/−1), and all steps of
 * one user on this replica run one after another, so any later write repairs an earlier failed one;
 * users whose write failed are written again at the next heartbeats. With Redis away at connect
 * time the decision is made on this replica's own count only: a blink of Redis never refuses
 * everyone.
 *
 * Not capped: the local admin (`kind: 'local'`, MAESTRO_AUTH=disabled), which is one person on one
 * machine, on loopback only; its sockets cost no Redis command here. Every other principal is
 * counted by `principal.id`, the user id for access tokens and API keys alike, so the cap is per
 * user whatever the credential.
 */
export class UserSocketQuota {
  /** This replica instance's field in every user's hash. */
  readonly instance: string;
  private readonly redis: WithScript;
  /** This instance's sockets per user (the truth that the Redis fields mirror). */
  private readonly local = new Map<string, number>();
  /** Per user, the tail of the chain of its steps (they run one after another). */
  private readonly chains = new Map<string, Promise<void>>();
  /** Users whose count in Redis may be wrong (a write failed). */
  private readonly dirty = new Set<string>();
  /** Instances of the other live replicas, as of the last heartbeat. */
  private live: string[] = [];

  constructor(private readonly o: UserSocketQuotaOptions) {
    this.instance = `${o.nodeId}#${randomBytes(6).toString('hex')}`;
    o.redis.defineCommand('maestroWsUserSockets', { numberOfKeys: 1, lua: LUA });
    this.redis = o.redis as WithScript;
  }

  /** True when `principal`'s sockets are counted (everyone but the local admin). */
  caps(principal: Principal): boolean {
    return principal.kind !== 'local';
  }

  /**
   * Admits one more socket of `principal`, or resolves undefined when the user already holds the
   * cap across the cluster. Never rejects.
   */
  acquire(principal: Principal): Promise<SocketLease | undefined> {
    if (!this.caps(principal)) return Promise.resolve(UNCAPPED);
    const userId = principal.id;
    return this.serialise(userId, async () => {
      const held = this.local.get(userId) ?? 0;
      let admitted: boolean;
      try {
        const [ok] = await this.write(userId, held + 1, this.o.limit);
        admitted = ok === 1;
        this.dirty.delete(userId);
      } catch (err) {
        // Redis away: this replica's own count decides, and the count is written once Redis is back.
        admitted = held + 1 <= this.o.limit;
        this.dirty.add(userId);
        const level = isRedisUnavailable(err) ? 'debug' : 'warn';
        this.o.logger[level]({ err: (err as Error).message }, 'WebSocket quota: Redis did not answer, this replica\'s count decides');
      }
      if (!admitted) return undefined;
      this.local.set(userId, held + 1);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          void this.release(userId);
        },
      };
    });
  }

  /**
   * The registry step (every 5 s, and when Redis is back): reports this instance, reads the live
   * instances of the other replicas (O(log n + replicas)), and writes again the counts of users whose
   * last write failed. Never rejects.
   */
  async heartbeat(): Promise<void> {
    const { redis, keys } = this.o;
    try {
      const now = Date.now();
      await redis.zadd(keys.wsInstances, now, this.instance);
      await redis.zremrangebyscore(keys.wsInstances, '-inf', `(${now - REGISTRY_PRUNE_MS}`);
      const live = await redis.zrangebyscore(keys.wsInstances, `(${now - REPLICA_STALE_MS}`, '+inf');
      this.live = live.filter((x) => x !== this.instance);
    } catch {
      return; // Redis away: keep the last list, try again at the next heartbeat
    }
    const retry = [...this.dirty].slice(0, RESYNC_PER_HEARTBEAT);
    await Promise.all(retry.map((u) => this.serialise(u, () => this.sync(u))));
  }

  /** Shutdown (after the sockets were released): the instance leaves the registry at once. Never rejects. */
  async close(): Promise<void> {
    await this.o.redis.zrem(this.o.keys.wsInstances, this.instance).catch(() => undefined);
  }

  /** This instance's count of `userId`'s sockets (for status and tests). */
  localCount(userId: string): number {
    return this.local.get(userId) ?? 0;
  }

  private async release(userId: string): Promise<void> {
    await this.serialise(userId, async () => {
      const n = (this.local.get(userId) ?? 1) - 1;
      if (n > 0) this.local.set(userId, n);
      else this.local.delete(userId);
      await this.sync(userId);
    });
  }

  /** Writes this instance's count of `userId` (no check); marks the user dirty when that fails. */
  private async sync(userId: string): Promise<void> {
    try {
      await this.write(userId, this.local.get(userId) ?? 0, 0);
      this.dirty.delete(userId);
    } catch {
      this.dirty.add(userId);
    }
  }

  private write(userId: string, count: number, cap: number): Promise<Reply> {
    return this.redis.maestroWsUserSockets(this.o.keys.wsUserSockets(userId), this.instance, count, cap, FIELD_GC_MS, ...this.live);
  }

  /** Runs `step` after every earlier step of the same user on this replica (local count and Redis agree). */
  private serialise<T>(userId: string, step: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(userId) ?? Promise.resolve()).then(step);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(userId, tail);
    void tail.then(() => {
      if (this.chains.get(userId) === tail) this.chains.delete(userId);
    });
    return run;
  }
}
