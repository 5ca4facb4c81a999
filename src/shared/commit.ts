import { AppError, BusinessRuleError, NotFoundError, PreconditionFailedError, ValidationError } from './errors.js';
import type { ScriptedRedis } from './redis-scripts.js';
import { countEvent } from './metrics.js';
import { currentOutcome } from './idempotency/request-outcome.js';

/**
 * What the render script can produce (redis-scripts/render-lib.lua `render`): an entity's stored
 * document (`project`, `task`, `template`, `session-doc` = a session without its lists), a session's
 * document with its list counts (`session-head`), a whole session with its lists (`session`: only
 * where they are short), or a queue/manifest `doc`.
 */
export type RenderKind = 'project' | 'task' | 'session' | 'session-doc' | 'session-head' | 'template' | 'doc';

/** How a failed precondition of a commit is reported to the caller. */
export type KeyRole = { resource: string; id: string };

type Op = Record<string, unknown> & { op: string; k: number };

/** Raised by Commit.exec when a `check`/`fieldIs` precondition fails: the caller retries or answers 412. */
export class VersionConflict extends Error {
  constructor(
    readonly keyIndex: number,
    readonly currentVersion: number,
  ) {
    super('version conflict');
  }
}

/** Result of a commit: the stream ids of the events appended, then the requested renders (JSON text). */
export interface CommitResult {
  eventIds: string[];
  renders: (string | null)[];
  /**
   * True when nothing was written because the current request's `Idempotency-Key` already made this
   * commit (a retry): `eventIds` and `renders` are the first attempt's. The caller undoes what it
   * wrote outside the commit for this attempt (a lookup of an id it generated) and skips what the
   * first attempt already did after its commit.
   */
  replayed: boolean;
}

/**
 * The kind of entity whose hash `key` is (keys.ts builds them: `…}:project`, `…}:task:<id>`,
 * `…}:session:<id>`, `…{templates}:t:<id>`; ids never hold `:` or braces), or undefined.
 */
export function entityKind(key: string): 'project' | 'task' | 'session' | 'template' | undefined {
  const m = /(?:\}:(project)$)|(?:\}:(task|session):[^:{}]+$)|(?:\{templates\}:t:[^:{}]+$)/.exec(key);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? 'template') as 'project' | 'task' | 'session' | 'template';
}

/** JSON text of a value, as stored in entity hashes. */
export const j = (v: unknown): string => JSON.stringify(v);

/**
 * One atomic change of one hash slot (one project, or the templates), built in TypeScript and applied
 * by `redis-scripts/commit.lua` in a single step: preconditions, writes, index moves, and the events
 * that describe the change appended to the slot's stream and published (the outbox rule of DESIGN.md).
 * Either everything is applied or nothing is.
 */
export class Commit {
  private readonly keys: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly roles = new Map<number, KeyRole>();
  private readonly emptyMessages = new Map<number, string>();
  private readonly ops: Op[] = [];
  /** `ready` ops: applied after every other op (they read what the writes left). */
  private readonly readiness: Op[] = [];
  private readonly events: Record<string, unknown>[] = [];
  private readonly renders: { kind: RenderKind; k: number }[] = [];
  /** The entity keys among `keys` and their kinds: commit.lua keeps their stored documents. */
  private readonly docs: [number, string][] = [];

  /**
   * @param stream the slot's event stream key (KEYS[1]); @param revision the slot's change counter
   * (KEYS[2], INCR'd by every commit: backups compare it to take a consistent snapshot of the slot);
   * @param registry the slot's key registry (KEYS[3], the set of its key names that commit.lua keeps);
   * @param projectId written into each event (`projectId` of the wire envelope; null for templates);
   * @param now ms timestamp of the change.
   */
  constructor(
    stream: string,
    revision: string,
    registry: string,
    readonly projectId: string | null,
    readonly now: number,
    private readonly channel: string,
    private readonly maxlen: number,
    /** The slot's record of a request's `Idempotency-Key` (`RequestOutcome.id` → key), see `exec`. */
    private readonly outcomeKeyOf?: (outcomeId: string) => string,
  ) {
    this.k(stream);
    this.k(revision);
    this.k(registry);
  }

  private k(key: string, role?: KeyRole): number {
    let i = this.keyIndex.get(key);
    if (i === undefined) {
      this.keys.push(key);
      i = this.keys.length;
      this.keyIndex.set(key, i);
      const kind = i > 3 ? entityKind(key) : undefined;
      if (kind) this.docs.push([i, kind]);
    }
    if (role) this.roles.set(i, role);
    return i;
  }

  /** Fails with VersionConflict unless the hash's `version` equals `version`; NotFound if absent. */
  checkVersion(key: string, version: number, role: KeyRole): this {
    this.ops.push({ op: 'check', k: this.k(key, role), version });
    return this;
  }
  /** Fails with VersionConflict unless the stored raw field text equals `raw` (null: the field is absent). */
  fieldIs(key: string, field: string, raw: string | null, role: KeyRole): this {
    this.ops.push({ op: 'fieldIs', k: this.k(key, role), f: field, v: raw });
    return this;
  }
  /** Fails with NotFoundError(role) unless the key exists. */
  exists(key: string, role: KeyRole): this {
    this.ops.push({ op: 'exists', k: this.k(key, role) });
    return this;
  }
  /** Fails with a 409 CONFLICT unless the key is absent. */
  absent(key: string, role: KeyRole): this {
    this.ops.push({ op: 'absent', k: this.k(key, role) });
    return this;
  }
  /** Fails with a 422 BUSINESS_RULE_ERROR(`message`) unless the sorted set is empty. */
  empty(key: string, message: string): this {
    const k = this.k(key);
    this.emptyMessages.set(k, message);
    this.ops.push({ op: 'empty', k });
    return this;
  }
  /** Sets fields to JSON texts; `bump` increments `version` first; `ifExists` skips a missing hash. */
  hset(key: string, fields: Record<string, string>, bump = false, ifExists = false): this {
    this.ops.push({ op: 'hset', k: this.k(key), f: fields, bump, ie: ifExists });
    return this;
  }
  /** Deletes fields of a hash. */
  hdel(key: string, fields: string[]): this {
    if (fields.length) this.ops.push({ op: 'hdel', k: this.k(key), f: fields });
    return this;
  }
  /** Sets the field only if it is absent or JSON `null` (e.g. `startedAt` the first time). */
  hsetIfNull(key: string, field: string, raw: string): this {
    this.ops.push({ op: 'hsetnull', k: this.k(key), f: field, v: raw });
    return this;
  }
  /** Adds a string to a JSON-array field unless present (skipped when the hash is missing). */
  arrayAdd(key: string, field: string, value: string): this {
    this.ops.push({ op: 'aadd', k: this.k(key), f: field, v: value, ie: true });
    return this;
  }
  /** Removes every occurrence of a string from a JSON-array field (skipped when the hash is missing). */
  arrayRemove(key: string, field: string, value: string): this {
    this.ops.push({ op: 'arem', k: this.k(key), f: field, v: value, ie: true });
    return this;
  }
  /**
   * Fails with a 400 VALIDATION_ERROR naming the cycle unless task `id` is unreachable from every task
   * of `from` through the stored `dependencies` of the tasks under `taskPrefix` (an edge id → from[i]
   * would close a cycle; contract 08 "Dependencies", checked in the same step as the write). Visits
   * at most `max` tasks (else 400: the graph is too large to check).
   */
  acyclic(key: string, id: string, from: string[], taskPrefix: string, max: number, role: KeyRole): this {
    this.ops.push({ op: 'acyclic', k: this.k(key, role), id, from, p: taskPrefix, max });
    return this;
  }
  /** Adds `value` to hash `key`'s `blockedBy` unless the hash `dependencyKey` has status "completed". */
  blockIf(key: string, dependencyKey: string, value: string): this {
    this.ops.push({ op: 'blockIf', k: this.k(key), d: this.k(dependencyKey), v: value, ie: true });
    return this;
  }
  /**
   * After every other write: task `id` (hash `key`) is in the ready index `index` iff it is `todo`, not
   * blocked and not claimed (contract 08 "Ready work"), as the member its stored priority and
   * createdAt make (keys.ts readyMember); `oldMember` is removed first (its priority changed).
   */
  ready(key: string, id: string, index: string, oldMember?: string): this {
    this.readiness.push({ op: 'ready', k: this.k(key), x: this.k(index), id, ...(oldMember ? { old: oldMember } : {}) });
    return this;
  }
  /** Adds a member to a lexicographic index (score 0). */
  zadd(key: string, member: string): this {
    this.ops.push({ op: 'zadd', k: this.k(key), m: member });
    return this;
  }
  /** Adds a member to a sorted set with a score (e.g. a claim by its lease expiry, ms). */
  zaddScore(key: string, score: number, member: string): this {
    this.ops.push({ op: 'zadds', k: this.k(key), s: score, m: member });
    return this;
  }
  /** Removes a member from an index. */
  zrem(key: string, member: string): this {
    this.ops.push({ op: 'zrem', k: this.k(key), m: member });
    return this;
  }
  /** Appends JSON texts to a list. */
  rpush(key: string, values: string[]): this {
    if (values.length) this.ops.push({ op: 'rpush', k: this.k(key), v: values });
    return this;
  }
  /** Deletes a key (UNLINK: a long list is freed off Redis's main thread, so one removal costs O(1) there). */
  del(key: string): this {
    this.ops.push({ op: 'del', k: this.k(key) });
    return this;
  }
  /** Sets a key's time to live, in ms. */
  pexpire(key: string, ms: number): this {
    this.ops.push({ op: 'pexpire', k: this.k(key), ms });
    return this;
  }
  /** Appends an event whose data is the given JSON text. */
  event(type: string, data: string): this {
    this.events.push({ type, data });
    return this;
  }
  /** Appends an event whose data is the entity at `key` as stored after this commit's writes. */
  eventRender(type: string, kind: RenderKind, key: string): this {
    this.events.push({ type, render: { kind, k: this.k(key) } });
    return this;
  }
  /**
   * Appends an event whose data is `pre + <entity at key, rendered after the writes> + post` (e.g. the
   * spawn event, which embeds the session as it is after the env write).
   */
  eventWrap(type: string, kind: RenderKind, key: string, pre: string, post: string): this {
    this.events.push({ type, render: { kind, k: this.k(key) }, pre, post });
    return this;
  }
  /**
   * Appends a small event whose data is `pre + E + ',"version":V,"lastActivity":now,"<countName>":N' +
   * post`: E = the `index`-th (1-based) value this commit pushes to `listKey` (sent once in the request,
   * not twice), V = the hash `key`'s version after the writes, N = the list's length — as the writes
   * answered them, so the event reads nothing (contract 00 "Events": appends cost the same at any length).
   */
  eventStamp(type: string, key: string, listKey: string, index: number, countName: string, pre: string, post: string): this {
    this.events.push({ type, stamp: { k: this.k(key), l: this.k(listKey), i: index, name: countName }, pre, post });
    return this;
  }
  /** Asks for the entity at `key` rendered after the writes (returned in `renders`, in call order). */
  render(kind: RenderKind, key: string): this {
    this.renders.push({ kind, k: this.k(key) });
    return this;
  }

  /**
   * Applies the change. Throws NotFoundError for a failed `exists`, VersionConflict for a failed
   * `check`/`fieldIs`, AppError 409 for a failed `absent` or a key of the wrong type (nothing is
   * written then); Redis errors propagate (→ 503 upstream).
   *
   * Inside a request with an `Idempotency-Key` (request-outcome.ts) the result is recorded in this
   * same step under the key in this slot, as the request's n-th commit; when the record holds it
   * already (a retry of a request whose commit was made), nothing is written and the recorded result
   * comes back with `replayed: true` (contract 00 "Concurrency and retries"). A record of another
   * request body → 409 CONFLICT.
   */
  async exec(redis: ScriptedRedis): Promise<CommitResult> {
    const request = this.outcomeKeyOf ? currentOutcome() : undefined;
    const record = request ? this.outcomeKeyOf!(request.id) : undefined;
    const ordinal = request && record ? (request.commits.get(record) ?? 0) + 1 : 0;
    const outcome = request && record ? { k: this.k(record), f: `c${ordinal}`, h: request.hash, ttl: request.ttlSeconds } : undefined;
    const arg = JSON.stringify({
      ops: this.readiness.length ? [...this.ops, ...this.readiness] : this.ops,
      events: this.events,
      render: this.renders,
      now: String(this.now),
      projectId: this.projectId,
      channel: this.channel,
      maxlen: this.maxlen,
      docs: this.docs,
      ...(outcome ? { outcome } : {}),
    });
    let out: (string | number | null)[];
    try {
      out = await redis.maestroCommit(this.keys.length, ...this.keys, arg);
    } catch (err) {
      const msg = err instanceof Error ? err.message : '';
      if (msg.includes('MAESTRO_IDEMPOTENCY')) throw new AppError(409, 'CONFLICT', 'Idempotency-Key was already used with a different request');
      const cycle = /MAESTRO_CYCLE \d+ ([^\s]+(?: [^\s]+)*)/.exec(msg);
      if (cycle) {
        const path = cycle[1]!.split(' ');
        throw new ValidationError(`dependencies would make a cycle: ${path.join(' → ')}`, [{ path: 'body.dependencies', message: `cycle ${path.join(' → ')}` }]);
      }
      if (/MAESTRO_GRAPH \d+/.test(msg)) {
        throw new ValidationError('dependencies: the dependency graph is too large to check for cycles (TASK_DEPENDENCY_SEARCH_MAX)', [{ path: 'body.dependencies', message: 'graph too large' }]);
      }
      const m = /MAESTRO_(GONE|VERSION|EXISTS|NOTEMPTY|TYPE) (\d+)(?: (\d+))?/.exec(msg);
      if (!m) throw err;
      const idx = Number(m[2]);
      if (m[1] === 'TYPE') throw new AppError(409, 'CONFLICT', 'The change conflicts with stored data of another kind; nothing was written');
      if (m[1] === 'NOTEMPTY') throw new BusinessRuleError(this.emptyMessages.get(idx) ?? 'Not empty');
      const role = this.roles.get(idx) ?? { resource: 'Resource', id: '?' };
      if (m[1] === 'GONE') throw new NotFoundError(role.resource, role.id);
      if (m[1] === 'EXISTS') throw new AppError(409, 'CONFLICT', `${role.resource} with id '${role.id}' already exists`);
      throw new VersionConflict(idx, Number(m[3] ?? 0));
    }
    if (request && record) request.commits.set(record, ordinal);
    const replayed = typeof out[0] === 'string' && out[0].startsWith('replayed ');
    const n = replayed ? Number(String(out[0]).slice(9)) : Number(out[0]);
    if (!replayed) for (const e of this.events) countEvent(String(e.type));
    return {
      eventIds: out.slice(1, 1 + n).map(String),
      renders: out.slice(1 + n).map((x) => (x === null || x === undefined ? null : String(x))),
      replayed,
    };
  }
}

/**
 * True when `err` says for sure that a commit wrote nothing (a refused precondition, a validation or
 * access error: AppError, VersionConflict); false for a Redis error (a timeout, a lost connection),
 * after which the commit may have been applied all the same. What a store wrote before its commit (an
 * id → project lookup) is taken back only in the first case: the write of a commit that timed out on
 * the replica may have run in Redis, and a retry finds it (issue 13, item 2).
 */
export function nothingWritten(err: unknown): boolean {
  return err instanceof AppError || err instanceof VersionConflict;
}

/** The `id` of an entity's rendered JSON (a replayed commit's render names the first attempt's entity). */
export function renderedId(json: string): string {
  return (JSON.parse(json) as { id: string }).id;
}

/**
 * Runs a read-compute-commit step, retrying on VersionConflict (another writer changed the entity
 * in between) up to `attempts` times with a short jittered pause. When `ifMatch` is given, a conflict
 * on that version is final: 412 PRECONDITION_FAILED (contract 00, "Concurrency and retries").
 */
export async function withRetry<T>(step: () => Promise<T>, ifMatch?: number, attempts = 100): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof VersionConflict)) throw err;
      if (ifMatch !== undefined) throw new PreconditionFailedError(err.currentVersion);
      if (i >= attempts) throw new AppError(409, 'CONFLICT', 'Too many concurrent writers; try again');
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + i * 2)));
    }
  }
}
