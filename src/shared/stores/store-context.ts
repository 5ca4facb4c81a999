import type { Config } from '../config.js';
import { Keys } from '../keys.js';
import { Commit } from '../commit.js';
import type { ScriptedRedis } from '../redis-scripts.js';
import { withScripts } from '../redis-scripts.js';
import type { RedisClient } from '../redis-connection.js';

/** A bounded map of immutable facts (id → projectId); oldest entry evicted first. */
export class LruCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

/** Everything a store needs: the Redis connection (scripts defined), key names, limits, the clock. */
export class StoreContext {
  readonly redis: ScriptedRedis;
  readonly keys: Keys;
  /** Task id → project id (immutable: a task never moves between projects). */
  readonly taskProject = new LruCache<string>(100_000);
  /**
   * Called once a session is gone (deleted, replaced, removed with its project) with its id and owner
   * (undefined when not known): the API removes its manifest files and frees its spawn slot. Best
   * effort, after the change is committed; errors are ignored.
   */
  onSessionRemoved?: (sessionId: string, ownerId: string | undefined) => Promise<void>;

  constructor(
    redis: RedisClient,
    readonly config: Pick<Config, 'MAESTRO_REDIS_PREFIX' | 'EVENT_STREAM_MAXLEN'>,
    readonly clock: () => number = Date.now,
  ) {
    this.redis = withScripts(redis);
    this.keys = new Keys(config.MAESTRO_REDIS_PREFIX);
  }

  /** A new atomic change of project `projectId`, stamped `now`. */
  commit(projectId: string, now = this.clock()): Commit {
    return new Commit(
      this.keys.events(projectId),
      this.keys.revision(projectId),
      this.keys.registry(projectId),
      projectId,
      now,
      this.keys.eventsChannel,
      this.config.EVENT_STREAM_MAXLEN,
      (outcomeId) => this.keys.commitOutcome(projectId, outcomeId),
    );
  }

  /** A new atomic change of the templates' slot. */
  templateCommit(now = this.clock()): Commit {
    return new Commit(this.keys.templateEvents, this.keys.templateRevision, this.keys.templateRegistry, null, now, this.keys.eventsChannel, this.config.EVENT_STREAM_MAXLEN, (outcomeId) =>
      this.keys.templateCommitOutcome(outcomeId),
    );
  }
}
