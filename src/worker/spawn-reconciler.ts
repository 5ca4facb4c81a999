import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { MANIFEST_FAILURE_PREFIX } from '../shared/spawn/spawn-queue.js';
import type { SpawnSlots } from '../shared/spawn/spawn-slots.js';
import type { Stores } from '../shared/stores/index.js';

/** Spawns looked at per run (the oldest first); the rest wait for the next run. */
const BATCH = 500;
/** BullMQ states of a job that is still going to run: its spawn is left alone. */
const ALIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** What one reconciler run did. */
export interface ReconcileResult {
  /** Spawns still in flight that it looked at. */
  checked: number;
  /** Sessions it finished as `failed`. */
  failed: number;
  /** Entries it dropped because their spawn had ended (manifest stored, session gone or moved on). */
  cleared: number;
}

/** `[status, ownerId, manifest stored (0|1)]` of a session, in one pipeline (both keys in its project's slot). */
async function spawnState(redis: Stores['ctx']['redis'], sessionKey: string, manifestKey: string): Promise<[string | null, string | null, number]> {
  const res = await redis.pipeline().hmget(sessionKey, 'status', 'ownerId').exists(manifestKey).exec();
  for (const [err] of res ?? []) if (err) throw err;
  const [status, owner] = (res?.[0]?.[1] as (string | null)[]) ?? [null, null];
  return [status ?? null, owner ?? null, Number(res?.[1]?.[1] ?? 0)];
}

/**
 * The spawn reconciler (issue 13, item 4; contract 00 "Concurrency and retries": "a spawn that could
 * not be marked failed during an outage is finished … once Redis is back"). Every spawn in flight is
 * listed in `spawn-slots:all` (SpawnSlots) from the moment it is accepted until its job completes or
 * fails for good. A run looks at the entries older than `afterMs` (a page of them): a session that
 * is gone, no longer `spawning`, or whose manifest is stored (the spawn succeeded) only loses its
 * entry; one whose job is still queued or running is left alone; one whose job failed for good, or
 * was never queued (the enqueue failed, or the job was removed), is finished — `failed`, with
 * `metadata.error` and its `session:updated` (SessionStore.failSpawn) — and its slot freed. Costs one
 * ZRANGEBYSCORE plus, per entry looked at, a GET and one pipeline (and the job's state when it is
 * still spawning).
 */
export async function reconcileSpawns(stores: Stores, slots: SpawnSlots, spawnQueue: Queue, logger: Logger, afterMs: number, now = Date.now()): Promise<ReconcileResult> {
  const { redis, keys } = stores.ctx;
  const out: ReconcileResult = { checked: 0, failed: 0, cleared: 0 };
  for (const sid of await slots.olderThan(now - afterMs, BATCH)) {
    out.checked++;
    const pid = await stores.sessions.projectOf(sid);
    const [status, owner, manifest] = pid ? await spawnState(redis, keys.session(pid, sid), keys.manifest(pid, sid)) : [null, null, 0];
    const userId = owner ? (JSON.parse(owner) as string) : '';
    if (!pid || status !== '"spawning"' || manifest) {
      await slots.release(userId, sid);
      out.cleared++;
      continue;
    }
    const job = await spawnQueue.getJob(sid);
    const state = job ? await job.getState() : 'missing';
    if (ALIVE.has(state)) continue;
    const reason =
      state === 'failed'
        ? (job?.failedReason ?? 'the spawn failed').replace(MANIFEST_FAILURE_PREFIX, '')
        : state === 'completed'
          ? 'the spawn completed but its manifest was not stored'
          : 'the spawn was never queued (or its job was removed)';
    await stores.sessions.failSpawn(pid, sid, `${reason} (finished by the reconciler)`);
    await slots.release(userId, sid);
    out.failed++;
    logger.warn({ sessionId: sid, jobState: state }, 'spawn reconciler finished a spawn left spawning');
  }
  return out;
}
