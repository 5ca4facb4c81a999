import { Queue, Worker, type Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { memberId } from '../shared/keys.js';
import { createBackupFile, pruneBackups } from '../shared/backup/backup-files.js';
import { createRedis, type RedisClient } from '../shared/redis-connection.js';
import { bullPrefix, SPAWN_QUEUE } from '../shared/spawn/spawn-queue.js';
import { SpawnSlots } from '../shared/spawn/spawn-slots.js';
import { reconcileSpawns } from './spawn-reconciler.js';
import type { Stores } from '../shared/stores/index.js';
import { MAINTENANCE_QUEUE } from '../shared/maintenance-queue.js';

const DAY_MS = 86_400_000;

/** Data of a scheduled backup job (BACKUP_DIR, BACKUP_KEEP of the worker that scheduled it). */
export interface BackupJobData {
  dir: string;
  keep: number;
}
/** Data of a retention job (SESSION_RETENTION_DAYS of the worker that scheduled it). */
export interface RetentionJobData {
  days: number;
}

/** Result of a scheduled backup job. */
export interface BackupJobResult {
  file: string;
  bytes: number;
  keys: number;
  pruned: string[];
}

/**
 * The worker's scheduled jobs (issue 6): `backup` (BACKUP_CRON → a backup file in BACKUP_DIR, then all
 * but the newest BACKUP_KEEP deleted), `retention` (RETENTION_CRON → sessions finished more than
 * SESSION_RETENTION_DAYS ago archived, see SessionStore.archiveFinished) and `reconcile`
 * (RECONCILE_CRON → spawns left `spawning` finished, see spawn-reconciler.ts). Schedules are BullMQ job
 * schedulers, so however many workers run, each tick runs once, on one of them, with the settings of
 * the worker that last scheduled it (they travel in the job): BACKUP_DIR must be the same storage for
 * every worker (a shared volume), or run the schedule on one worker. A worker started with BACKUP_CRON
 * unset leaves an existing backup schedule alone; `off` removes it.
 */
export class MaintenanceWorker {
  readonly queue: Queue;
  readonly worker: Worker;
  /** The spawn queue, read by the reconciler (job states). */
  private readonly spawnQueue: Queue;
  private readonly slots: SpawnSlots;
  private readonly connection: RedisClient;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly stores: Stores,
    private readonly logger: Logger,
    queueConnection: RedisClient,
    private readonly metrics?: Metrics,
  ) {
    this.queue = new Queue(MAINTENANCE_QUEUE, { connection: queueConnection as never, prefix: bullPrefix(config) });
    this.queue.on('error', () => undefined);
    this.spawnQueue = new Queue(SPAWN_QUEUE, { connection: queueConnection as never, prefix: bullPrefix(config) });
    this.spawnQueue.on('error', () => undefined);
    this.slots = new SpawnSlots(stores.ctx.redis, stores.ctx.keys, config.SPAWN_MAX_IN_FLIGHT_PER_USER);
    this.connection = createRedis(config.REDIS_URL, { name: 'maestro-worker-maintenance', forBullmq: true });
    this.connection.on('error', () => undefined);
    this.worker = new Worker(MAINTENANCE_QUEUE, (job) => this.process(job), {
      connection: this.connection as never,
      prefix: bullPrefix(config),
      concurrency: 1,
      // A backup of a large prefix may take minutes: renew the lock rather than have it stall.
      lockDuration: 60_000,
    });
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'maintenance worker error'));
    this.worker.on('failed', (job, err) => this.logger.error({ job: job?.name, err: err.message }, 'maintenance job failed'));
  }

  /** Creates, updates or removes the job schedulers from BACKUP_CRON and RETENTION_CRON. */
  async schedule(): Promise<void> {
    const { BACKUP_CRON, RETENTION_CRON } = this.config;
    if (BACKUP_CRON === 'off') await this.queue.removeJobScheduler('backup');
    const opts = { removeOnComplete: 50, removeOnFail: 50 };
    // The settings travel in the job: whichever worker runs a tick uses the scheduling worker's values.
    const backup: BackupJobData = { dir: this.config.BACKUP_DIR, keep: this.config.BACKUP_KEEP };
    if (BACKUP_CRON === 'off') await this.queue.removeJobScheduler('backup');
    else if (BACKUP_CRON) await this.queue.upsertJobScheduler('backup', { pattern: BACKUP_CRON }, { name: 'backup', data: backup, opts });
    const retention: RetentionJobData = { days: this.config.SESSION_RETENTION_DAYS };
    if (RETENTION_CRON === 'off') await this.queue.removeJobScheduler('retention');
    else await this.queue.upsertJobScheduler('retention', { pattern: RETENTION_CRON }, { name: 'retention', data: retention, opts });
    const { RECONCILE_CRON } = this.config;
    if (RECONCILE_CRON === 'off') await this.queue.removeJobScheduler('reconcile');
    else await this.queue.upsertJobScheduler('reconcile', { pattern: RECONCILE_CRON }, { name: 'reconcile', data: { afterMs: this.config.SPAWN_RECONCILE_AFTER_MS }, opts });
  }

  /** `schedule()`, retried with backoff (≤ 30 s) while Redis is away, until it succeeds or `close()`. */
  async scheduleWithRetry(): Promise<void> {
    for (let delay = 1000; !this.closed; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.schedule();
        return;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'could not schedule maintenance jobs');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private async process(job: Job): Promise<unknown> {
    try {
      let result: unknown;
      if (job.name === 'backup') {
        result = await this.backup(job.data as BackupJobData);
        this.metrics?.lastBackup.set(Date.now() / 1000);
      } else if (job.name === 'retention') {
        const archived = await this.retention(Date.now(), (job.data as RetentionJobData).days);
        this.metrics?.sessionsArchived.inc(archived);
        result = { archived };
      } else if (job.name === 'reconcile') {
        result = await reconcileSpawns(this.stores, this.slots, this.spawnQueue, this.logger, (job.data as { afterMs: number }).afterMs);
      } else throw new Error(`unknown maintenance job '${job.name}'`);
      this.metrics?.maintenanceJobs.inc({ job: job.name, result: 'completed' });
      return result;
    } catch (err) {
      this.metrics?.maintenanceJobs.inc({ job: ['backup', 'retention', 'reconcile'].includes(job.name) ? job.name : 'unknown', result: 'failed' });
      throw err;
    }
  }

  /** Writes one backup into `dir` and prunes to the newest `keep`; returns the file and counts. */
  async backup({ dir, keep }: BackupJobData = { dir: this.config.BACKUP_DIR, keep: this.config.BACKUP_KEEP }): Promise<BackupJobResult> {
    const f = await createBackupFile(this.stores.ctx.redis, this.config.MAESTRO_REDIS_PREFIX, dir);
    const pruned = await pruneBackups(dir, keep);
    this.logger.info({ file: f.path, bytes: f.bytes, keys: f.summary.keys, retries: f.summary.retries, pruned: pruned.length }, 'backup written');
    return { file: f.path, bytes: f.bytes, keys: f.summary.keys, pruned };
  }

  /**
   * Archives, in every project, the sessions finished more than `days` (SESSION_RETENTION_DAYS) ago
   * (0 = never); returns how many. `now` in ms.
   */
  async retention(now = Date.now(), days = this.config.SESSION_RETENTION_DAYS): Promise<number> {
    if (days <= 0) return 0;
    const cutoff = now - days * DAY_MS;
    const { redis, keys } = this.stores.ctx;
    let archived = 0;
    let from = '-';
    for (;;) {
      const members = await redis.zrange(keys.projectIndex, from, '+', 'BYLEX', 'LIMIT', '0', '500');
      for (const m of members) archived += await this.stores.sessions.archiveFinished(memberId(m), cutoff);
      if (members.length < 500) break;
      from = `(${members[members.length - 1]!}`;
    }
    if (archived) this.logger.info({ archived, cutoff }, 'sessions archived');
    return archived;
  }

  /** Stops taking jobs (an active one finishes first) and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.spawnQueue.close().catch(() => undefined);
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
