import { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../shared/config.js';
import { AppError, ForbiddenError, NotFoundError } from '../shared/errors.js';
import { canRead, canWrite } from '../shared/principal.js';
import type { Logger } from '../shared/logger.js';
import type { Principal } from '../shared/principal.js';
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
    if (taskIds.length > this.limits.array) throw spawnError(400, 'invalid_task_ids', `taskIds must have at most ${this.limits.array} entries`);
    const spawnSource = raw.spawnSource ?? 'ui';
    if (spawnSource !== 'ui' && spawnSource !== 'session') throw spawnError(400, 'invalid_spawn_source', 'spawnSource must be "ui" or "session"');
    if (spawnSource === 'session') {
      if (!sessionId || typeof sessionId !== 'string') throw spawnError(400, 'missing_session_id', 'sessionId is required when spawnSource is "session"');
      try {
        await this.stores.sessions.get(actor, sessionId);
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
    if (!canWrite(actor, projectId)) throw new ForbiddenError('Not allowed to spawn in this project');
    const strategy = raw.strategy ?? 'simple';
    if (!STRATEGIES.includes(strategy as never)) throw spawnError(400, 'invalid_strategy', 'strategy must be "simple", "queue", or "tree"');
    const other = (taskIds as string[]).find((_, i) => taskProjects[i] !== projectId);
    if (other) throw spawnError(400, 'invalid_task_ids', `Task ${other} belongs to another project`, { taskId: other });
    const skills = Array.isArray(raw.skills) ? raw.skills.filter((s): s is string => typeof s === 'string').slice(0, this.limits.array) : [];
    const context = raw.context && typeof raw.context === 'object' && !Array.isArray(raw.context) ? (raw.context as Record<string, unknown>) : {};
    if (Buffer.byteLength(JSON.stringify(context)) > this.limits.metadata) {
      throw new AppError(400, 'VALIDATION_ERROR', `context must be at most ${this.limits.metadata} bytes as JSON`);
    }
    const sessionName = typeof raw.sessionName === 'string' && raw.sessionName ? raw.sessionName.slice(0, this.limits.title) : undefined;
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
   * `POST /sessions/spawn`: creates the session (`spawning`; no events yet) and its links (and queue)
   * atomically, enqueues the job, and waits up to SPAWN_WAIT_MS for it: 201 with the original response
   * plus `envVars`, `initialCommand`, `cwd`, `manifest`; `async` (Prefer: respond-async) or a wait that
   * times out → 202 with the session; a spawn that failed for good → 500 manifest_generation_failed.
   */
  async spawn(actor: Principal, raw: Record<string, unknown>, async: boolean): Promise<SpawnAnswer> {
    const v = await this.validate(actor, raw);
    const roleName = v.role === 'worker' ? 'Worker' : 'Orchestrator';
    const created = await this.stores.sessions.createForSpawn(
      actor,
      {
        projectId: v.projectId,
        taskIds: v.taskIds,
        name: v.sessionName ?? `${roleName} for ${v.taskIds[0]}`,
        strategy: v.strategy,
        metadata: { skills: v.skills, spawnedBy: v.parentSessionId, spawnSource: v.spawnSource, role: v.role, strategy: v.strategy, context: v.context },
      },
      v.strategy === 'queue' ? (id, now) => QueueStore.initialDoc(id, [...new Set(v.taskIds)], now) : undefined,
    );
    const manifestPath = `${this.config.SESSION_DIR}/${created.id}/manifest.json`;
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
      attempts: this.config.SPAWN_ATTEMPTS,
      backoff: { type: 'exponential', delay: this.config.SPAWN_BACKOFF_MS },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 86_400 },
    });
    const accepted = (): SpawnAnswer => ({
      status: 202,
      body: { success: true, sessionId: created.id, manifestPath, message: 'Spawn request accepted', session: JSON.parse(created.json) },
    });
    if (async || this.config.SPAWN_WAIT_MS === 0) return accepted();
    let result: SpawnJobResult;
    try {
      result = await job.waitUntilFinished(this.events, this.config.SPAWN_WAIT_MS);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/^Job wait .* timed out before finishing/.test(msg)) return accepted();
      throw spawnError(500, 'manifest_generation_failed', msg.startsWith('Failed to generate manifest:') ? msg : `Failed to generate manifest: ${msg}`);
    }
    return {
      status: 201,
      body: {
        success: true,
        sessionId: result.sessionId,
        manifestPath: result.manifestPath,
        message: 'Spawn request sent to Agents UI',
        session: JSON.parse(result.session),
        envVars: result.envVars,
        initialCommand: result.command,
        cwd: result.cwd,
        manifest: JSON.parse(result.manifest),
      },
    };
  }

  /** The stored manifest of a session (`GET /sessions/:id/manifest`); 404 session, then 404 manifest. */
  async manifest(actor: Principal, sessionId: string): Promise<string> {
    const { projectId } = await this.stores.sessions.get(actor, sessionId);
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
