/**
 * Every Redis key name Maestro uses, built in one place (DESIGN.md "Redis data model").
 * All keys of one project carry the hash tag `{<projectId>}` so every atomic step stays in one slot;
 * the few global keys (project index, id → project lookups, templates, idempotency) are outside it.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Pub/sub channel every event is published on (one subscription per replica). */
  get eventsChannel(): string {
    return `${this.prefix}events`;
  }
  /** Pub/sub channel for skill cache invalidation (a reload reaches every replica). */
  get skillsChannel(): string {
    return `${this.prefix}skills:reload`;
  }
  /** Global lexicographic index of all projects (members `<createdAt>:<id>`). */
  get projectIndex(): string {
    return `${this.prefix}projects`;
  }
  /** Immutable fact: task id → project id (string). */
  taskLookup(taskId: string): string {
    return `${this.prefix}lookup:task:${taskId}`;
  }
  /** Immutable-per-incarnation fact: session id → project id (string). */
  sessionLookup(sessionId: string): string {
    return `${this.prefix}lookup:session:${sessionId}`;
  }

  private tag(projectId: string): string {
    return `${this.prefix}{${projectId}}`;
  }
  /** The project's event stream (outbox; ids are the events' wire ids). */
  events(projectId: string): string {
    return `${this.tag(projectId)}:events`;
  }
  /** The project's change counter: INCR'd by every commit of the project (backup snapshots compare it). */
  revision(projectId: string): string {
    return `${this.tag(projectId)}:rev`;
  }
  /** The project's key registry: the set of its key names, kept by commit.lua (backups list it). */
  registry(projectId: string): string {
    return `${this.tag(projectId)}:keys`;
  }
  /** The project hash. The other per-project keys below are named after what they hold. */
  project(projectId: string): string {
    return `${this.tag(projectId)}:project`;
  }
  /** Prefix such that `taskPrefix(p) + taskId` is the task hash key. */
  taskPrefix(projectId: string): string {
    return `${this.tag(projectId)}:task:`;
  }
  task(projectId: string, taskId: string): string {
    return this.taskPrefix(projectId) + taskId;
  }
  tasksAll(projectId: string): string {
    return `${this.tag(projectId)}:tasks`;
  }
  tasksByStatus(projectId: string, status: string): string {
    return `${this.tag(projectId)}:tasks:status:${status}`;
  }
  /** Tasks by parent; `parentId` null → root tasks. */
  tasksByParent(projectId: string, parentId: string | null): string {
    return `${this.tag(projectId)}:tasks:parent:${parentId ?? '\u0000null'}`;
  }
  tasksByParentStatus(projectId: string, parentId: string | null, status: string): string {
    return `${this.tag(projectId)}:tasks:parent:${parentId ?? '\u0000null'}:status:${status}`;
  }
  /**
   * Tasks that are `todo`, not blocked by dependencies and not claimed, in priority then creation
   * order (lexicographic index, members `readyMember(…)`; contract 08 "Ready work"; kept by commit.lua
   * `ready`).
   */
  tasksReady(projectId: string): string {
    return `${this.tag(projectId)}:tasks:ready`;
  }
  /** The project's claimed tasks by lease expiry (sorted set: task id → expiresAt ms; contract 08 "Claims"). */
  claims(projectId: string): string {
    return `${this.tag(projectId)}:claims`;
  }
  /**
   * Projects with claims, scored by (at most) their earliest lease expiry, ms: where the claim sweeper
   * looks (see task-claims.ts). Same hash tag as `claimGenerations`.
   */
  get claimProjects(): string {
    return `${this.prefix}{claims}:projects`;
  }
  /** Per project, a count moved by every claim marked in `claimProjects` (the sweeper's compare-and-set). */
  get claimGenerations(): string {
    return `${this.prefix}{claims}:gen`;
  }
  /** Prefix such that `sessionPrefix(p) + sessionId` is the session hash key. */
  sessionPrefix(projectId: string): string {
    return `${this.tag(projectId)}:session:`;
  }
  session(projectId: string, sessionId: string): string {
    return this.sessionPrefix(projectId) + sessionId;
  }
  sessionEvents(projectId: string, sessionId: string): string {
    return `${this.session(projectId, sessionId)}:events`;
  }
  sessionTimeline(projectId: string, sessionId: string): string {
    return `${this.session(projectId, sessionId)}:timeline`;
  }
  sessionsAll(projectId: string): string {
    return `${this.tag(projectId)}:sessions`;
  }
  sessionsByStatus(projectId: string, status: string): string {
    return `${this.tag(projectId)}:sessions:status:${status}`;
  }
  /** Sessions whose status is not `completed` (contract 02, `active=true`). */
  sessionsActive(projectId: string): string {
    return `${this.tag(projectId)}:sessions:active`;
  }
  /** Sessions archived by the retention job (out of the list indexes above, still readable by id). */
  sessionsArchived(projectId: string): string {
    return `${this.tag(projectId)}:sessions:archived`;
  }
  sessionsByTask(projectId: string, taskId: string): string {
    return `${this.tag(projectId)}:sessions:task:${taskId}`;
  }
  /** Queue of a session (hash: `doc` = QueueState JSON, `version`). */
  queue(projectId: string, sessionId: string): string {
    return `${this.tag(projectId)}:queue:${sessionId}`;
  }
  /** Stored manifest of a spawned session (hash: `doc`, `version`). */
  manifest(projectId: string, sessionId: string): string {
    return `${this.tag(projectId)}:manifest:${sessionId}`;
  }

  /**
   * A request's `Idempotency-Key` record in project `projectId`'s slot (hash: `h` = request hash,
   * `c<n>` = the result of its n-th commit; commit.lua `outcome`). `outcomeId`: request-outcome.ts.
   */
  commitOutcome(projectId: string, outcomeId: string): string {
    return `${this.tag(projectId)}:idem:${outcomeId}`;
  }

  /** Templates share one hash tag: the index, the documents and their event stream. */
  get templateIndex(): string {
    return `${this.prefix}{templates}:index`;
  }
  templatePrefix(): string {
    return `${this.prefix}{templates}:t:`;
  }
  template(id: string): string {
    return this.templatePrefix() + id;
  }
  get templateEvents(): string {
    return `${this.prefix}{templates}:events`;
  }
  /** Templates of one role, in creation order (lexicographic index). */
  templateRole(role: string): string {
    return `${this.prefix}{templates}:role:${role}`;
  }
  /** The templates' key registry (see `registry`). */
  get templateRegistry(): string {
    return `${this.prefix}{templates}:keys`;
  }
  /** A request's `Idempotency-Key` record in the templates' slot (see `commitOutcome`). */
  templateCommitOutcome(outcomeId: string): string {
    return `${this.prefix}{templates}:idem:${outcomeId}`;
  }
  /** The templates' change counter (see `revision`). */
  get templateRevision(): string {
    return `${this.prefix}{templates}:rev`;
  }
  /**
   * A user's spawns in flight (sorted set: session id scored by a deadline, ms). Transient: not in
   * backups (see backup.ts EXCLUDED).
   */
  spawnSlots(userId: string): string {
    return `${this.prefix}spawn-slots:${userId}`;
  }
  /** Every spawn in flight (sorted set: session id → ms it was accepted), for the spawn reconciler. */
  get spawnsInFlight(): string {
    return `${this.prefix}spawn-slots:all`;
  }
  /**
   * The session of a synchronous spawn that failed, by credential scope and request hash (string,
   * expires after SPAWN_RETRY_WINDOW_SECONDS): a retry of the same request without an
   * Idempotency-Key retries that session (spawn-service.ts). Transient: not in backups.
   */
  spawnRetry(scope: string, requestHash: string): string {
    return `${this.prefix}spawn-retry:${scope}:${requestHash}`;
  }
  /** Idempotency record of one credential's key (JSON: `state`, `hash`, `status`, `body`, `headers`). */
  idempotency(principalId: string, key: string): string {
    return `${this.prefix}idem:${principalId}:${key}`;
  }
  /**
   * A user's open WebSockets across the cluster, under the user's hash tag (hash: replica instance id
   * → `<count>:<ms of its last write>`; see src/api/ws/user-socket-quota.ts).
   */
  wsUserSockets(userId: string): string {
    return `${this.prefix}{u:${userId}}:ws-sockets`;
  }
  /** The API replicas seen recently (sorted set: nodeId → ms of its last report; `/ws-status`). */
  get wsNodes(): string {
    return `${this.prefix}ws:nodes`;
  }
  /** Each replica's WebSocket client count (hash: nodeId → count; `/ws-status`). */
  get wsCounts(): string {
    return `${this.prefix}ws:counts`;
  }
  /** Registry of the API replicas' instances for the WebSocket cap (sorted set: instance id → ms of its last report). */
  get wsInstances(): string {
    return `${this.prefix}ws:instances`;
  }
}

/**
 * Index member for creation order: `<createdAt ms, 15 digits>:<id>`. Lexicographic order of members
 * = (createdAt, id), so every list pages with ZRANGE BYLEX in O(log n + page).
 */
export function indexMember(createdAt: number, id: string): string {
  return `${String(Math.max(0, Math.trunc(createdAt))).padStart(15, '0')}:${id}`;
}

/** Rank of a priority in the ready order (contract 08: high, medium, low). */
const PRIORITY_RANK: Record<string, number> = { high: 1, medium: 2, low: 3 };

/**
 * Ready-index member: `<priority rank, 1 digit><createdAt ms, 14 digits>:<id>` — the shape of
 * `indexMember` (15 digits, colon, id), so it pages and makes cursors like every index, in priority
 * then creation order.
 */
export function readyMember(priority: string | undefined, createdAt: number, id: string): string {
  return `${PRIORITY_RANK[priority ?? 'medium'] ?? 4}${String(Math.max(0, Math.trunc(createdAt))).padStart(14, '0')}:${id}`;
}

/** The id part of an index member. */
export function memberId(member: string): string {
  return member.slice(16);
}
