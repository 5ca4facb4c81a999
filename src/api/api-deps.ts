import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { RedisClient } from '../shared/redis-connection.js';
import type { RequestSchemas } from '../shared/schemas/requests.js';
import type { SkillLoader } from '../shared/skills/skill-loader.js';
import type { Stores } from '../shared/stores/index.js';
import type { SpawnService } from './spawn-service.js';
import type { DashboardQueue } from './queue-dashboard.js';
import type { Authenticator } from './middleware/authenticate.js';
import type { AuthRouteDeps } from './routes/auth.js';

/** Snapshot of this replica's WebSocket clients for `/ws-status` (contract 02 "Health"). */
export type WsStatusProvider = () => Record<string, unknown> | Promise<Record<string, unknown>>;

/** What the Express app is built from (no `listen`; see server.ts). */
export interface ApiDeps {
  config: Config;
  logger: Logger;
  redis: RedisClient;
  /** Connection for the rate limiters' store (queues commands while connecting); defaults to `redis`. */
  rateLimitRedis?: RedisClient;
  stores: Stores;
  schemas: RequestSchemas;
  skills: SkillLoader;
  /** Prometheus metrics of this replica (absent: no /metrics). */
  metrics?: Metrics;
  /** Resolves credentials (the local admin for every request when MAESTRO_AUTH=disabled). */
  auth: Authenticator;
  /** Users, tokens, keys and members routes. */
  identity?: AuthRouteDeps;
  /** The spawn queue side (absent in apps built without it). */
  spawn?: SpawnService;
  /** The queues the dashboard `/admin/queues` lists (issue 16; absent or empty: no dashboard). */
  dashboardQueues?: DashboardQueue[];
  /** Undefined until the WebSocket gateway is attached. */
  wsStatus?: WsStatusProvider;
  /** Extra readiness probe (e.g. the spawn queue), resolving when reachable. */
  readyChecks?: (() => Promise<void>)[];
  /** Set when the replica begins its graceful stop: `/ready` answers 503 from then on (issue 16). */
  draining?: { since?: number };
  startedAt: number;
}
