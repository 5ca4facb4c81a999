import type { Config } from '../config.js';
import type { RedisClient } from '../redis-connection.js';
import { ProjectStore } from './project-store.js';
import { QueueStore } from './queue-store.js';
import { SessionStore } from './session-store.js';
import { StoreContext } from './store-context.js';
import { TaskStore } from './task-store.js';
import { TemplateStore } from './template-store.js';
import { IdentityStore } from '../auth/identity-store.js';
import { DEFAULT_GRAPH_LIMITS } from './task-graph.js';
import { ClaimStore, DEFAULT_CLAIM_LIMITS } from './task-claims.js';

/** Every store over one Redis connection (see DESIGN.md "Layout": src/shared holds the stores). */
export interface Stores {
  ctx: StoreContext;
  projects: ProjectStore;
  tasks: TaskStore;
  sessions: SessionStore;
  queues: QueueStore;
  templates: TemplateStore;
  identity: IdentityStore;
  /** Claims of tasks by sessions (contract 08). */
  claims: ClaimStore;
}

/**
 * Builds the stores; `clock` (ms) is injectable for tests. The identity caps come from the config when
 * it has them (MAX_API_KEYS_PER_USER, REFRESH_REUSE_WINDOW_SECONDS), else their defaults.
 */
export function createStores(
  redis: RedisClient,
  config: Pick<Config, 'MAESTRO_REDIS_PREFIX' | 'EVENT_STREAM_MAXLEN'> &
    Partial<
      Pick<Config, 'MAX_API_KEYS_PER_USER' | 'REFRESH_REUSE_WINDOW_SECONDS' | 'TASK_MAX_DEPENDENCIES' | 'TASK_MAX_DEPENDENTS' | 'TASK_DEPENDENCY_SEARCH_MAX' | 'CLAIM_LEASE_MS' | 'CLAIM_LEASE_MAX_MS'>
    >,
  clock: () => number = Date.now,
): Stores {
  const ctx = new StoreContext(redis, config, clock);
  const identity = new IdentityStore(redis, config.MAESTRO_REDIS_PREFIX, {
    ...(config.MAX_API_KEYS_PER_USER ? { maxApiKeysPerUser: config.MAX_API_KEYS_PER_USER } : {}),
    ...(config.REFRESH_REUSE_WINDOW_SECONDS ? { refreshReuseWindowSeconds: config.REFRESH_REUSE_WINDOW_SECONDS } : {}),
  });
  const projects = new ProjectStore(ctx, identity);
  const tasks = new TaskStore(ctx, projects, {
    maxDependencies: config.TASK_MAX_DEPENDENCIES ?? DEFAULT_GRAPH_LIMITS.maxDependencies,
    maxDependents: config.TASK_MAX_DEPENDENTS ?? DEFAULT_GRAPH_LIMITS.maxDependents,
    searchMax: config.TASK_DEPENDENCY_SEARCH_MAX ?? DEFAULT_GRAPH_LIMITS.searchMax,
  });
  const sessions = new SessionStore(ctx, projects, tasks);
  sessions.onKeysEnded = async (keyIds) => {
    for (const id of keyIds) await identity.revokeKeyById(id);
  };
  const claims = new ClaimStore(ctx, tasks, sessions, {
    leaseMs: config.CLAIM_LEASE_MS ?? DEFAULT_CLAIM_LIMITS.leaseMs,
    maxLeaseMs: config.CLAIM_LEASE_MAX_MS ?? DEFAULT_CLAIM_LIMITS.maxLeaseMs,
  });
  sessions.onSessionEnded = (pid, sid, taskIds) => claims.releaseSession(pid, sid, taskIds);
  const queues = new QueueStore(ctx, sessions, tasks);
  const templates = new TemplateStore(ctx);
  return { ctx, projects, tasks, sessions, queues, templates, identity, claims };
}
