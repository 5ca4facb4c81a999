import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import { AppError, NotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { LOCAL_ADMIN } from '../shared/principal.js';
import { createRedis, type RedisClient } from '../shared/redis-connection.js';
import { bullPrefix, MANIFEST_FAILURE_PREFIX, SPAWN_QUEUE, type SpawnJobData, type SpawnJobResult } from '../shared/spawn/spawn-queue.js';
import type { Stores } from '../shared/stores/index.js';
import { SpawnSlots } from '../shared/spawn/spawn-slots.js';
import { assertValidManifest, ManifestError, runCliGenerator, runServerGenerator } from './manifest-generator.js';

/** Where CLI runs write their manifest before the worker stores it (per host, not shared). */
const SCRATCH_DIR = join(tmpdir(), 'maestro-manifest-scratch');

/**
 * The spawn worker (contract 04 steps 3–8, 00 "Spawn"): generates the manifest (CLI child process or
 * in-process), adds the role's template id, writes it under SESSION_DIR, and in ONE atomic step stores
 * it, sets the six env vars on the session and emits `session:updated`, `session:spawn`,
 * `task:session_added`×N. That step is conditional on no manifest being stored yet, so a job run twice
 * (retry, or recovered after its worker died) yields one manifest and one `session:spawn`. A job that
 * fails on its last attempt marks the session `failed` with `metadata.error`.
 */
export class SpawnWorker {
  readonly worker: Worker<SpawnJobData, SpawnJobResult>;
  private readonly connection: RedisClient;
  private readonly slots: SpawnSlots;

  constructor(
    private readonly config: Config,
    private readonly stores: Stores,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.slots = new SpawnSlots(stores.ctx.redis, stores.ctx.keys, config.SPAWN_MAX_IN_FLIGHT_PER_USER);
    this.connection = createRedis(config.REDIS_URL, { name: 'maestro-worker-bullmq', forBullmq: true });
    this.connection.on('error', () => undefined);
    this.worker = new Worker<SpawnJobData, SpawnJobResult>(SPAWN_QUEUE, (job) => this.process(job), {
      connection: this.connection as never,
      prefix: bullPrefix(config),
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.SPAWN_LOCK_MS,
      stalledInterval: Math.max(500, Math.floor(config.SPAWN_LOCK_MS / 2)),
      maxStalledCount: 3,
    });
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'spawn worker error'));
    this.worker.on('failed', (job, err) => this.logger.warn({ sessionId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'spawn attempt failed'));
    this.worker.on('completed', (job) => this.logger.info({ sessionId: job.id }, 'spawn completed'));
  }

  /**
   * Deletes scratch manifests older than `maxAgeMs` (default 1 h): those of CLI runs orphaned when
   * their worker died. Run at start-up; errors are ignored.
   */
  static async sweepScratch(maxAgeMs = 3_600_000, now = Date.now()): Promise<number> {
    let removed = 0;
    try {
      for (const name of await readdir(SCRATCH_DIR)) {
        const file = join(SCRATCH_DIR, name);
        const st = await stat(file).catch(() => undefined);
        if (st && now - st.mtimeMs > maxAgeMs) {
          await rm(file, { force: true });
          removed++;
        }
      }
    } catch {
      /* no scratch directory yet */
    }
    return removed;
  }

  /**
   * Removes manifest directories under SESSION_DIR whose session no longer exists (contract 00 "Spawn":
   * manifest files are removed with their session; the API removes them at once where it shares the
   * directory, this catches the rest: other hosts, a deletion while this worker was down). Only
   * directories older than `minAgeMs` (a spawn in progress writes its lookup long before). One
   * pipelined EXISTS per 500 directories. Returns how many were removed; errors are ignored.
   */
  async sweepOrphanManifests(minAgeMs = 3_600_000, now = Date.now()): Promise<number> {
    let removed = 0;
    try {
      const names = (await readdir(this.config.SESSION_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
      for (let i = 0; i < names.length; i += 500) {
        const batch = names.slice(i, i + 500);
        const p = this.stores.ctx.redis.pipeline();
        for (const id of batch) p.exists(this.stores.ctx.keys.sessionLookup(id));
        const found = (await p.exec()) ?? [];
        for (let j = 0; j < batch.length; j++) {
          if (found[j]?.[0] || Number(found[j]?.[1]) === 1) continue;
          const dir = join(this.config.SESSION_DIR, batch[j]!);
          const st = await stat(dir).catch(() => undefined);
          // minAgeMs 0: any age (a directory written in this very millisecond has mtimeMs > now)
          if (!st || (minAgeMs > 0 && now - st.mtimeMs < minAgeMs)) continue;
          await rm(dir, { recursive: true, force: true });
          removed++;
        }
      }
    } catch {
      /* no SESSION_DIR yet, or Redis away: the next sweep tries again */
    }
    if (removed) this.logger.info({ removed }, 'removed manifest directories of deleted sessions');
    return removed;
  }

  private async process(job: Job<SpawnJobData, SpawnJobResult>): Promise<SpawnJobResult> {
    const d = job.data;
    const end = this.metrics?.spawnDuration.startTimer();
    // The user's spawn slot (SPAWN_MAX_IN_FLIGHT_PER_USER) is freed once the spawn is over either way.
    const release = () => this.slots.release(d.actorId, d.sessionId).catch(() => undefined);
    try {
      const result = await this.spawnOnce(d);
      this.metrics?.spawnJobs.inc({ result: 'completed' });
      end?.({ result: 'completed' });
      await release();
      return result;
    } catch (err) {
      this.metrics?.spawnJobs.inc({ result: 'failed' });
      end?.({ result: 'failed' });
      if (err instanceof UnrecoverableError) {
        // final: the session is marked failed unless it is already gone or no longer spawning
        await this.markFailed(d, err.message.replace(MANIFEST_FAILURE_PREFIX, '')).catch((e: Error) => this.logger.error({ err: e.message }, 'could not mark spawn failed'));
        await release();
        throw err;
      }
      const reason = err instanceof ManifestError ? err.message : `Unexpected error: ${(err as Error).message}`;
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (last) {
        await this.markFailed(d, reason).catch((e: Error) => this.logger.error({ err: e.message }, 'could not mark spawn failed'));
        await release();
      }
      throw new Error(MANIFEST_FAILURE_PREFIX + reason);
    }
  }

  private manifestPath(sessionId: string): string {
    return join(this.config.SESSION_DIR, sessionId, 'manifest.json');
  }

  /** The result of a spawn whose atomic step already happened (a re-run job). */
  private async storedResult(d: SpawnJobData): Promise<SpawnJobResult | undefined> {
    const k = this.stores.ctx.keys;
    const doc = await this.stores.ctx.redis.hget(k.manifest(d.projectId, d.sessionId), 'doc');
    if (!doc) return undefined;
    const session = await this.stores.sessions.get(LOCAL_ADMIN, d.sessionId, 'whole');
    const project = JSON.parse((await this.stores.projects.get(LOCAL_ADMIN, d.projectId)).json) as { workingDir: string };
    return {
      sessionId: d.sessionId,
      manifestPath: this.manifestPath(d.sessionId),
      session: session.json,
      envVars: this.envVars(d),
      command: `maestro ${d.role} init`,
      cwd: project.workingDir ?? '',
      manifest: doc,
    };
  }

  private envVars(d: SpawnJobData): Record<string, string> {
    return {
      MAESTRO_SESSION_ID: d.sessionId,
      MAESTRO_MANIFEST_PATH: this.manifestPath(d.sessionId),
      MAESTRO_SERVER_URL: this.config.SERVER_URL,
      MAESTRO_STRATEGY: d.strategy,
      DATA_DIR: this.config.DATA_DIR,
      SESSION_DIR: this.config.SESSION_DIR,
    };
  }

  private async spawnOnce(d: SpawnJobData): Promise<SpawnJobResult> {
    const done = await this.storedResult(d);
    if (done) return done;
    let project: { workingDir?: string };
    try {
      const status = (await this.stores.sessions.doc(LOCAL_ADMIN, d.sessionId)).json;
      if (!/"status":"spawning"/.test(status)) throw new UnrecoverableError(`${MANIFEST_FAILURE_PREFIX}session is no longer spawning`);
      project = JSON.parse((await this.stores.projects.get(LOCAL_ADMIN, d.projectId)).json);
    } catch (err) {
      if (err instanceof NotFoundError) throw new UnrecoverableError(`${MANIFEST_FAILURE_PREFIX}${err.message}`);
      throw err;
    }
    const path = this.manifestPath(d.sessionId);
    await mkdir(dirname(path), { recursive: true });
    // The CLI generator reads the project and tasks through the API: with authentication on it gets a
    // key of the spawner, read-only, scoped to this session, that expires by itself and is revoked as
    // soon as the run is over. It lives in the child's environment only (never in Redis data another
    // principal reads: contract 00 "Spawn"); the session's own key is given by the API to the caller.
    const minted =
      d.actorId === LOCAL_ADMIN.id || this.config.MANIFEST_GENERATOR !== 'cli'
        ? undefined
        : await this.stores.identity.createApiKey(d.actorId, {
            name: `manifest generator ${d.sessionId}`,
            projectId: d.projectId,
            sessionId: d.sessionId,
            readOnly: true,
            ttlMs: this.config.MANIFEST_TIMEOUT_MS + 60_000,
          });
    try {
      return await this.completeSpawn(d, project, path, minted?.key);
    } finally {
      if (minted) await this.stores.identity.revokeKeyById(minted.id).catch(() => undefined);
    }
  }

  /**
   * Steps 3–8 of a spawn attempt: manifest (the CLI run gets `generatorKey` to read the API), size
   * check, then the atomic step that stores it and sets the six env vars.
   */
  private async completeSpawn(d: SpawnJobData, project: { workingDir?: string }, path: string, generatorKey?: string): Promise<SpawnJobResult> {
    // The CLI writes to a file of its own, outside SESSION_DIR: a CLI left running by a worker that
    // died can neither overwrite the manifest another worker completed nor leave a copy beside it.
    await mkdir(SCRATCH_DIR, { recursive: true, mode: 0o700 });
    const scratch = join(SCRATCH_DIR, `${d.sessionId}.${randomUUID()}.json`);
    let manifest: Record<string, unknown>;
    try {
      manifest = (
        this.config.MANIFEST_GENERATOR === 'server' ? await runServerGenerator(this.stores, d) : await runCliGenerator(this.config, d, scratch, generatorKey)
      ) as Record<string, unknown>;
    } finally {
      await rm(scratch, { force: true });
    }
    assertValidManifest(manifest);
    try {
      const template = JSON.parse((await this.stores.templates.getByRole(LOCAL_ADMIN, d.role)).json) as { id: string };
      manifest.templateId = template.id;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    const compactBytes = Buffer.byteLength(JSON.stringify(manifest));
    if (compactBytes > this.config.MANIFEST_MAX_BYTES) {
      throw new UnrecoverableError(`${MANIFEST_FAILURE_PREFIX}manifest is ${compactBytes} bytes; at most ${this.config.MANIFEST_MAX_BYTES} (MANIFEST_MAX_BYTES)`);
    }
    const manifestJson = JSON.stringify(manifest, null, 2);
    await writeFile(scratch, manifestJson + '\n');
    await rename(scratch, path);
    const envVars = this.envVars(d);
    const command = `maestro ${d.role} init`;
    const cwd = project.workingDir ?? '';
    const k = this.stores.ctx.keys;
    const manifestKey = k.manifest(d.projectId, d.sessionId);
    const compact = JSON.stringify(manifest);
    const post =
      `,"command":${JSON.stringify(command)},"cwd":${JSON.stringify(cwd)},"envVars":${JSON.stringify(envVars)},` +
      `"manifest":${compact},"projectId":${JSON.stringify(d.projectId)},"taskIds":${JSON.stringify(d.taskIds)},` +
      `"spawnSource":${JSON.stringify(d.spawnSource)},"parentSessionId":${JSON.stringify(d.parentSessionId)},"_isSpawnCreated":true}`;
    let session: string;
    try {
      session = await this.stores.sessions.setSpawnEnv(d.projectId, d.sessionId, envVars, (c, sessionKey) => {
        c.absent(manifestKey, { resource: 'Manifest', id: d.sessionId });
        c.fieldIs(sessionKey, 'status', '"spawning"', { resource: 'Session', id: d.sessionId });
        c.hset(manifestKey, { doc: compact, version: '1' });
        c.eventWrap('session:spawn', 'session', sessionKey, '{"session":', post);
        for (const t of [...new Set(d.taskIds)]) c.event('task:session_added', JSON.stringify({ taskId: t, sessionId: d.sessionId }));
      });
    } catch (err) {
      if (err instanceof AppError && err.code === 'CONFLICT') {
        const again = await this.storedResult(d);
        if (again) return again;
      }
      if (err instanceof NotFoundError) throw new UnrecoverableError(`${MANIFEST_FAILURE_PREFIX}${err.message}`);
      throw err;
    }
    return { sessionId: d.sessionId, manifestPath: path, session, envVars, command, cwd, manifest: compact };
  }

  /** Final failure: session → `failed`, `metadata.error = reason`, `session:updated` (contract 00). */
  private markFailed(d: SpawnJobData, reason: string): Promise<void> {
    return this.stores.sessions.failSpawn(d.projectId, d.sessionId, reason);
  }

  async close(): Promise<void> {
    await this.worker.close();
    this.connection.disconnect();
  }
}
