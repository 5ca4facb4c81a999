import type { Keys } from '../../shared/keys.js';
import type { RedisClient } from '../../shared/redis-connection.js';

/** How often a replica reports its WebSocket client count to the cluster registry, ms. */
export const REGISTRY_MS = 5000;

/** One replica as `/ws-status` lists it. */
export interface ReplicaCount {
  nodeId: string;
  connectedClients: number;
}

/**
 * The cluster's registry of API replicas and their WebSocket client counts (`/ws-status`, contract 02,
 * additive `cluster`): each replica reports itself every REGISTRY_MS in `ws:nodes` (sorted set, score
 * = ms of its report) and `ws:counts` (hash nodeId → count); a replica not seen for three periods is
 * no longer listed. Informational: a Redis that is away only leaves the status local.
 */
export class ReplicaRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly nodeId: string,
  ) {}

  /** Reports this replica with `clients` sockets (errors ignored). */
  async report(clients: number): Promise<void> {
    try {
      await this.redis.zadd(this.keys.wsNodes, Date.now(), this.nodeId);
      await this.redis.hset(this.keys.wsCounts, this.nodeId, String(clients));
    } catch {
      /* Redis away: the registry is informational */
    }
  }

  /** The replicas seen recently with their counts (this one with `ownClients`), or undefined when Redis is away. */
  async replicas(ownClients: number): Promise<ReplicaCount[] | undefined> {
    try {
      const nodes = await this.redis.zrangebyscore(this.keys.wsNodes, String(Date.now() - 3 * REGISTRY_MS), '+inf');
      const counts = nodes.length ? await this.redis.hmget(this.keys.wsCounts, ...nodes) : [];
      const out = nodes.map((n, i) => ({ nodeId: n, connectedClients: n === this.nodeId ? ownClients : Number(counts[i] ?? 0) }));
      if (!nodes.includes(this.nodeId)) out.push({ nodeId: this.nodeId, connectedClients: ownClients });
      return out;
    } catch {
      return undefined;
    }
  }

  /** Leaves the registry (shutdown). */
  async leave(): Promise<void> {
    await this.redis.zrem(this.keys.wsNodes, this.nodeId).catch(() => undefined);
  }
}
