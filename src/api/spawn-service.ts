import { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../shared/config.js';
import { AppError, NotFoundError } from '../shared/errors.js';
import { allows, authorize, canRead } from '../shared/access/policy.js';
import type { Logger } from '../shared/logger.js';
import type { Principal } from '../shared/principal.js';
import { createHash } from 'node:crypto';
import { newId } from '../shared/schemas/entities.js';
import { currentOutcome } from '../shared/idempotency/request-outcome.js';
import { credentialScope } from '../shared/principal.js';
import { versionOf } from '../shared/stores/documents.js';
import { SpawnSlots } from '../shared/spawn/spawn-slots.js';
import { createRedis, type RedisClient } from '../shared/redis-connection.js';
import type { Limits } from '../shared/schemas/requests.js';
import { bullPrefix, SPAWN_QUEUE, type SpawnJobData, type SpawnJobResult } from '../shared/spawn/spawn-queue.js';
import { QueueStore } from '../shared/stores/queue-store.js';
import type { Stores } from '../shared/stores/index.js';

/** Errors of the spawn endpoint: envelope B (no statusCode), codes of contract 04. */
const spawnError = (status: number, code: string, message: string, details?: unknown) =>
  new AppError(status, code, message, { envelope: 'route', details });

/** What POST /sessions/spawn answers: status and body. */
export interface SpawnAnswer {
  status: 201 | 202;
  body: Record<string, unknown>;
  /** The body without credentials, when it has one (what an Idempotency-Key record keeps). */
  replayable?: Record<string, unknown>;
}

/**
 * The largest spawn `context` accepted, bytes of JSON: room for the whole task the original CLI copies
 * into it (`context.primaryTask`: a title, a description and an initial prompt of the largest sizes
 * a task accepts, its metadata) twice over plus 8 KiB, and never less than MAX_METADATA_BYTES — so a
 * task that was accepted can always be spawned (issue 14: a 100 KiB description was refused at spawn).
 */
export function spawnContextMaxBytes(limits: Limits): number {
  return Math.max(limits.metadata, 2 * (4 * limits.title + 2 * limits.text + limits.metadata) + 8192);
}

const ROLES = ['worker', 'orchestrator'] as const;
const STRATEGIES = ['simple', 'queue', 'tree'] as const;

/**
 * The API side of spawn (contract 04, 00 "Spawn"): validation in the contract's order, atomic creation
 * of the `spawning` session with its links (and queue), a BullMQ job with job id = session id, and a
 * bounded wait for its result.
 */
export class SpawnService {
  readonly queue: Queue<SpawnJobData, SpawnJobResult>;
  private readonly events: QueueEvents;
  private readonly connection: RedisClient;
  private readonly eventsConnection: RedisClient;
  private readonly slots: SpawnSlots;

  constructor(
    private readonly config: Config,
    private readonly stores: Stores,
    private readonly limits: Limits,
    private readonly logger: Logger,
  ) {
    // BullMQ queries the server (INFO) as soon as the Queue is built: this connection queues commands
    // while connecting, and the command timeout turns an outage into a 503.
    this.connection = createRedis(config.REDIS_URL, { name: 'maestro-api-spawn', commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
    this.connection.on('error', () => undefined);
    this.eventsConnection = createRedis(config.REDIS_URL, { name: 'maestro-api-spawn-events', forBullmq: true });
    this.eventsConnection.on('error', () => undefined);
    const prefix = bullPrefix(config);
    this.queue = new Queue(SPAWN_QUEUE, { connection: this.connection as never, prefix });
    this.queue.on('error', (err) => this.logger.debug({ err: err.message }, 'spawn queue error'));
    this.events = new QueueEvents(SPAWN_QUEUE, { connection: this.eventsConnection as never, prefix });
    this.events.on('error', (err) => this.logger.debug({ err: err.message }, 'spawn queue events error'));
    this.slots = new SpawnSlots(stores.ctx.redis, stores.ctx.keys, config.SPAWN_MAX_IN_FLIGHT_PER_USER);
  }

  /** Frees a session's spawn slot (its session was deleted before the spawn finished). */
  releaseSlot(userId: string, sessionId: string): Promise<void> {
    return this.slots.release(userId, sessionId);
  }

  /**
   * Another BullMQ queue of this replica's (the queue dashboard's `maintenance`, issue 16) on the spawn
   * queue's connection, which queues commands while connecting and times them out (no connection of
   * its own: a Queue sends no blocking command). The caller closes it before `close()`.
   */
  otherQueue(name: string): Queue {
    return new Queue(name, { connection: this.connection as never, prefix: bullPrefix(this.config) });
  }

  /** Readiness probe: the queue's Redis answers. */
  async ping(): Promise<void> {
    await this.connection.ping();
  }

  /**
   * Validates a spawn request in contract 04's order (first failure wins): missing_project_id →
   * invalid_task_ids → invalid_spawn_source → missing_session_id → parent_session_not_found →
   * invalid_role → task_not_found (each, in order) → project_not_found → invalid_strategy. Tasks must
   * also belong to the project (this cluster keeps a session's links in one project).
   */
  private async validate(actor: Principal, raw: Record<string, unknown>) {
    const { projectId, taskIds, sessionId } = raw;
    if (!projectId || typeof projectId !== 'string') throw spawnError(400, 'missing_project_id', 'projectId is required');
    if (!Array.isArray(taskIds) || taskIds.length === 0 || !taskIds.every((t) => typeof t === 'string' && t.length > 0)) {
      throw spawnError(400, 'invalid_task_ids', 'taskIds must be a non-empty array');
    }
    const maxTasks = Math.min(this.limits.array, this.config.SPAWN_MAX_TASKS);
    if (taskIds.length > maxTasks) throw spawnError(400, 'invalid_task_ids', `taskIds must have at most ${maxTasks} entries (SPAWN_MAX_TASKS)`);
    const spawnSource = raw.spawnSource ?? 'ui';
    if (spawnSource !== 'ui' && spawnSource !== 'session') throw spawnError(400, 'invalid_spawn_source', 'spawnSource must be "ui" or "session"');
    if (spawnSource === 'session') {
      if (!sessionId || typeof sessionId !== 'string') throw spawnError(400, 'missing_session_id', 'sessionId is required when spawnSource is "session"');
      try {
        await this.stores.sessions.doc(actor, sessionId);
      } catch (err) {
        if (err instanceof NotFoundError) throw spawnError(404, 'parent_session_not_found', `Parent session ${sessionId} not found`);
        throw err;
      }
    }
    const role = raw.role ?? 'worker';
    if (!ROLES.includes(role as never)) throw spawnError(400, 'invalid_role', 'role must be "worker" or "orchestrator"');
    const taskProjects: (string | undefined)[] = [];
    for (const t of taskIds as string[]) {
      const pid = await this.stores.tasks.projectOf(t);
      // a task of a project the caller cannot read does not exist for it (ids cannot be probed)
      if (!pid || !canRead(actor, pid)) throw spawnError(404, 'task_not_found', `Task ${t} not found`, { taskId: t });
      taskProjects.push(pid);
    }
    if (!(await this.stores.projects.exists(projectId)) || !canRead(actor, projectId)) throw spawnError(404, 'project_not_found', `Project ${projectId} not found`);
    authorize(actor, 'spawn:create', { projectId }, () => spawnError(404, 'project_not_found', `Project ${projectId} not found`));
    const strategy = raw.strategy ?? 'simple';
    if (!STRATEGIES.includes(strategy as never)) throw spawnError(400, 'invalid_strategy', 'strategy must be "simple", "queue", or "tree"');
    const other = (taskIds as string[]).find((_, i) => taskProjects[i] !== projectId);
    if (other) throw spawnError(400, 'invalid_task_ids', `Task ${other} belongs to another project`, { taskId: other });
    const skills = Array.isArray(raw.skills) ? raw.skills.filter((s): s is string => typeof s === 'string').slice(0, this.limits.array) : [];
    const context = raw.context && typeof raw.context === 'object' && !Array.isArray(raw.context) ? (raw.context as Record<string, unknown>) : {};
    const contextMax = spawnContextMaxBytes(this.limits);
    if (Buffer.byteLength(JSON.stringify(context)) > contextMax) {
      throw new AppError(400, 'VALIDATION_ERROR', `context must be at most ${contextMax} bytes as JSON`);
    }
    const sessionName = typeof raw.sessionName === 'string' && raw.sessionName ? raw.sessionName.slice(0, this.limits.title) : undefined;
    const estimate = await this.manifestEstimate(projectId, [...new Set(taskIds as string[])], skills);
    if (estimate > this.config.MANIFEST_MAX_BYTES) {
      throw spawnError(400, 'manifest_too_large', `The manifest of this spawn would be about ${estimate} bytes; at most ${this.config.MANIFEST_MAX_BYTES} (MANIFEST_MAX_BYTES)`, { bytes: estimate, max: this.config.MANIFEST_MAX_BYTES });
    }
    return {
      projectId,
      taskIds: taskIds as string[],
      spawnSource: spawnSource as 'ui' | 'session',
      parentSessionId: typeof sessionId === 'string' && sessionId ? sessionId : null,
      role: role as 'worker' | 'orchestrator',
      strategy: strategy as 'simple' | 'queue' | 'tree',
      skills,
      context,
      sessionName,
    };
  }

  /**
   * Bytes the manifest of a spawn will take, from the stored sizes of what it copies (each task's
   * title, description and metadata, plus a fixed overhead per task; skills; the working directory):
   * one pipelined HSTRLEN per field, at most SPAWN_MAX_TASKS × 3 + 1 commands. The worker checks the
   * real size too (contract 00 "Spawn": MANIFEST_MAX_BYTES).
   */
  private async manifestEstimate(projectId: string, taskIds: string[], skills: string[]): Promise<number> {
    const k = this.stores.ctx.keys;
    const p = this.stores.ctx.redis.pipeline();
    for (const t of taskIds) for (const f of ['title', 'description', 'metadata']) p.hstrlen(k.task(projectId, t), f);
    p.hstrlen(k.project(projectId), 'workingDir');
    const sizes = (await p.exec()) ?? [];
    const stored = sizes.reduce((n, [, v]) => n + Number(v ?? 0), 0);
    return stored + taskIds.length * 400 + Buffer.byteLength(JSON.stringify(skills)) + 400;
  }

  /**
   * `POST /sessions/spawn`: creates the session (`spawning`; no events yet) and its links (and queue)
   * atomically, enqueues the job, and waits up to SPAWN_WAIT_MS for it: 201 with the original response
   * plus `envVars`, `initialCommand`, `cwd`, `manifest`; `async` (Prefer: respond-async) or a wait that
   * times out → 202 with the session; a spawn that failed for good → 500 manifest_generation_failed.
   */
  async spawn(actor: Principal, raw: Record<string, unknown>, async: boolean): Promise<SpawnAnswer> {
    const v = await this.validate(actor, raw);
    const roleName = v.role === 'worker' ? 'Worker' : 'Orchestrator';
    const redis = this.stores.ctx.redis;
    // A client that retries a failed spawn without an Idempotency-Key (the original CLI retries every
    // 5xx three times) retries the same session instead of leaving one failed session per try.
    const retryKey = currentOutcome()
      ? undefined
      : this.stores.ctx.keys.spawnRetry(credentialScope(actor), createHash('sha256').update(JSON.stringify(raw)).digest('hex').slice(0, 32));
    const earlier = retryKey ? await redis.get(retryKey) : null;
    const retried = earlier ? await this.stores.sessions.retrySpawn(v.projectId, earlier) : undefined;
    const sessionId = retried ? earlier! : newId('sess', this.stores.ctx.clock());
    // One slot per spawn in flight; its rank is the job's priority (fair across users).
    const rank = await this.slots.acquire(actor.id, sessionId);
    if (rank === 0) {
      const message = `At most ${this.config.SPAWN_MAX_IN_FLIGHT_PER_USER} spawns in flight per user (SPAWN_MAX_IN_FLIGHT_PER_USER); retry when one has finished`;
      if (retried) await this.stores.sessions.failSpawn(v.projectId, sessionId, message).catch(() => undefined);
      throw new AppError(429, 'RATE_LIMITED', message, { envelope: 'route', headers: { 'Retry-After': '5' } });
    }
    let created: Awaited<ReturnType<Stores['sessions']['createForSpawn']>>;
    if (retried) {
      // its failed job goes, so the job id (= session id) can be used again
      await (await this.queue.getJob(sessionId))?.remove().catch(() => undefined);
      created = { id: sessionId, json: retried, version: versionOf(retried), replayed: false };
    } else try {
      created = await this.stores.sessions.createForSpawn(
        actor,
        {
          projectId: v.projectId,
          taskIds: v.taskIds,
          name: v.sessionName ?? `${roleName} for ${v.taskIds[0]}`,
          strategy: v.strategy,
          metadata: { skills: v.skills, spawnedBy: v.parentSessionId, spawnSource: v.spawnSource, role: v.role, strategy: v.strategy, context: v.context },
        },
        v.strategy === 'queue' ? (id, now) => QueueStore.initialDoc(id, [...new Set(v.taskIds)], now) : undefined,
        sessionId,
      );
    } catch (err) {
      await this.slots.release(actor.id, sessionId).catch(() => undefined);
      throw err;
    }
    if (created.replayed) {
      // A retry (same Idempotency-Key) of a spawn whose session was made: no second session and no
      // second job. This attempt's slot goes; the job is made only if the first attempt never queued
      // it and the session still waits for it (issue 13, item 2).
      if (created.id !== sessionId) await this.slots.release(actor.id, sessionId).catch(() => undefined);
      const queued = await this.queue.getJob(created.id);
      if (!queued) {
        const current = await this.stores.sessions.doc(actor, created.id);
        if ((JSON.parse(current.json) as { status?: string }).status !== 'spawning') {
          return { status: 202, body: this.acceptedBody(created.id, current.json) };
        }
      }
    }
    // No credential in the job (contract 00 "Spawn"): the worker acts for `actorId` itself.
    const data: SpawnJobData = {
      sessionId: created.id,
      projectId: v.projectId,
      taskIds: v.taskIds,
      role: v.role,
      strategy: v.strategy,
      skills: v.skills,
      spawnSource: v.spawnSource,
      parentSessionId: v.parentSessionId,
      actorId: actor.id,
    };
    const job = await this.queue.add(SPAWN_QUEUE, data, {
      jobId: created.id,
      priority: rank,
      attempts: this.config.SPAWN_ATTEMPTS,
      backoff: { type: 'exponential', delay: this.config.SPAWN_BACKOFF_MS },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 86_400 },
    });
    const accepted = (): SpawnAnswer => ({ status: 202, body: this.acceptedBody(created.id, created.json) });
    if (async || this.config.SPAWN_WAIT_MS === 0) return accepted();
    let result: SpawnJobResult;
    try {
      result = await job.waitUntilFinished(this.events, this.config.SPAWN_WAIT_MS);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/^Job wait .* timed out before finishing/.test(msg)) return accepted();
      if (retryKey) await redis.set(retryKey, created.id, 'EX', this.config.SPAWN_RETRY_WINDOW_SECONDS).catch(() => undefined);
      throw spawnError(500, 'manifest_generation_failed', msg.startsWith('Failed to generate manifest:') ? msg : `Failed to generate manifest: ${msg}`);
    }
    const body: Record<string, unknown> = {
      success: true,
      sessionId: result.sessionId,
      manifestPath: result.manifestPath,
      message: 'Spawn request sent to Agents UI',
      session: JSON.parse(result.session),
      envVars: result.envVars,
      initialCommand: result.command,
      cwd: result.cwd,
      manifest: JSON.parse(result.manifest),
    };
    // The session's own key, given once, to the caller only (contract 00 "Spawn"). A caller that may
    // not mint keys (a session key: an orchestrator spawning workers) gets none; the agent's terminal
    // mints one with its machine's credential (`maestro worker init`).
    const mayMint = actor.kind !== 'local' && allows(actor, 'session:mintKey', { projectId: v.projectId, sessionId: result.sessionId });
    const key = !mayMint
      ? undefined
      : await this.mintSessionKey(actor, v.projectId, result.sessionId).catch((err: unknown) => {
          this.logger.warn({ sessionId: result.sessionId, err: (err as Error).message }, 'spawned session got no key; mint one with POST /sessions/:id/api-key');
          return undefined;
        });
    return { status: 201, body: key ? { ...body, apiKey: key.key, apiKeyId: key.id } : body, replayable: body };
  }

  /** The body of a 202 (contract 00 "Spawn": accepted, follow `session:spawn`): the session as JSON text. */
  private acceptedBody(sessionId: string, sessionJson: string): Record<string, unknown> {
    const manifestPath = `${this.config.SESSION_DIR}/${sessionId}/manifest.json`;
    return { success: true, sessionId, manifestPath, message: 'Spawn request accepted', session: JSON.parse(sessionJson) };
  }

  /**
   * Mints a key for session `sessionId` of `projectId` (contract 00 "Spawn"; `POST /sessions/:id/api-key`
   * and the spawn response): the caller's key, scoped to that project and session (at most `editor`
   * there, whatever the caller's role), revoked when the session ends, is deleted or replaced. The
   * caller needs `session:mintKey` (a writer of the project, not itself a session key). No key under
   * MAESTRO_AUTH=disabled (undefined). 409 for an ended session, 429 over MAX_API_KEYS_PER_SESSION.
   */
  async mintSessionKey(actor: Principal, projectId: string, sessionId: string) {
    if (actor.kind === 'local') return undefined;
    authorize(actor, 'session:mintKey', { projectId, sessionId }, () => new NotFoundError('Session', sessionId));
    const identity = this.stores.identity;
    const key = await identity.createApiKey(actor.id, { name: `session ${sessionId}`, projectId, sessionId });
    try {
      await this.stores.sessions.addKey(projectId, sessionId, key.id, this.config.MAX_API_KEYS_PER_SESSION, (ids) => identity.activeKeyIds(ids));
    } catch (err) {
      await identity.revokeKeyById(key.id).catch(() => undefined);
      throw err;
    }
    return key;
  }

  /** The stored manifest of a session (`GET /sessions/:id/manifest`); 404 session, then 404 manifest. */
  async manifest(actor: Principal, sessionId: string): Promise<string> {
    const { projectId } = await this.stores.sessions.doc(actor, sessionId);
    const doc = await this.stores.ctx.redis.hget(this.stores.ctx.keys.manifest(projectId, sessionId), 'doc');
    if (!doc) throw new NotFoundError('Manifest', sessionId);
    return doc;
  }

  /** Closes the queue, its event listener and their connections (API shutdown). */
  async close(): Promise<void> {
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    this.connection.disconnect();
    this.eventsConnection.disconnect();
  }
}
