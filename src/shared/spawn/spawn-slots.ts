import type { Keys } from '../keys.js';
import type { ScriptedRedis } from '../redis-scripts.js';

/** How long a slot is held at most when its holder never releases it (its job was lost), ms. */
export const SLOT_DEADLINE_MS = 3_600_000;

/**
 * Spawns in flight per user (contract 00 "Spawn": `SPAWN_MAX_IN_FLIGHT_PER_USER`): a user's spawn takes
 * a slot when it is accepted and frees it when its job completes or fails for good, or when its session
 * is deleted. The rank a slot gets (1 = the user's only spawn in flight) is the job's BullMQ priority,
 * so the queue serves users fairly: another user's first spawn goes before a burst's second to last.
 * One Redis key per user (`spawn-slots:<userId>`, sorted by deadline); each call is O(log n) in the
 * user's own slots (at most the cap).
 */
export class SpawnSlots {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly keys: Keys,
    private readonly cap: number,
  ) {}

  /**
   * Takes a slot for `sessionId` of `userId`: the slot's rank (1…cap; the job priority), or 0 when the
   * user already has `cap` spawns in flight (the caller answers 429).
   */
  async acquire(userId: string, sessionId: string, now = Date.now()): Promise<number> {
    const rank = Number(await this.redis.maestroSlotAcquire(1, this.keys.spawnSlots(userId), sessionId, String(now + SLOT_DEADLINE_MS), String(now), String(this.cap)));
    // every spawn in flight, for the reconciler (issue 13, item 4): a spawn whose end was never written
    if (rank > 0) await this.redis.zadd(this.keys.spawnsInFlight, now, sessionId);
    return rank;
  }

  /** Frees the slot of `sessionId` (no-op when it holds none). */
  async release(userId: string, sessionId: string): Promise<void> {
    // in this order, one after the other (two slots): while the user's slot is held, the spawn stays
    // listed in flight, so the reconciler frees a slot whose release failed half-way
    await this.redis.zrem(this.keys.spawnSlots(userId), sessionId);
    await this.redis.zrem(this.keys.spawnsInFlight, sessionId);
  }

  /** Session ids of spawns in flight since before `before` (ms), oldest first, at most `limit`. */
  async olderThan(before: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.spawnsInFlight, '-inf', `(${before}`, 'LIMIT', 0, limit);
  }
}
