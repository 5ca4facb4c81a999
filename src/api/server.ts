import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { basename, dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from '../shared/config.js';
import { createLogger, prettyLogs, type Logger } from '../shared/logger.js';
import { isMain, logRedisErrors, runMain } from '../shared/process-lifecycle.js';
import { createRedis } from '../shared/redis-connection.js';
import { requestSchemas } from '../shared/schemas/requests.js';
import { SkillLoader } from '../shared/skills/skill-loader.js';
import { createStores } from '../shared/stores/index.js';
import type { ApiDeps } from './api-deps.js';
import { createApp, createOpsApp } from './app.js';
import { limitConnections } from './connection-limits.js';
import { WsGateway } from './ws/ws-gateway.js';
import { SpawnService } from './spawn-service.js';
import { loadKeyRing, type KeyRing } from '../shared/auth/tokens.js';
import { ConfigError } from '../shared/errors.js';
import { createAuthenticator, disabledAuthenticator } from './middleware/authenticate.js';
import { PrincipalCache } from './middleware/principal-cache.js';
import { LAST_USED_EVERY_MS } from '../shared/auth/identity-store.js';
import { bootstrapAdmin } from './bootstrap-admin.js';
import { Metrics, onEventsPublished } from '../shared/metrics.js';
import { canRead } from '../shared/access/policy.js';
import { MAINTENANCE_QUEUE } from '../shared/maintenance-queue.js';

/** A running API replica. */
export interface ApiServer {
  server: Server;
  port: number;
  /** The operations port when METRICS_PORT is set (0 picks a free one). */
  metricsPort?: number;
  deps: ApiDeps;
  gateway: WsGateway;
  /** The replica's cache of resolved credentials (absent with MAESTRO_AUTH=disabled). */
  principalCache?: PrincipalCache;
  /** Graceful stop: stop accepting, drain, close Redis. */
  close(): Promise<void>;
}

/**
 * Starts one API replica: Redis connection (fail-fast: requests answer 503 while Redis is away, and
 * the connection recovers by itself), default templates seeded once Redis is ready, HTTP on
 * `HOST:PORT` (PORT 0 = any free port).
 */
export async function startApi(config: Config, logger: Logger = createLogger('api', config.LOG_LEVEL, prettyLogs(config.LOG_FORMAT, config.NODE_ENV))): Promise<ApiServer> {
  const loopback = ['127.0.0.1', 'localhost', '::1'].includes(config.HOST);
  if (config.MAESTRO_AUTH === 'disabled' && !loopback) {
    throw new ConfigError(`Invalid configuration: MAESTRO_AUTH=disabled requires HOST to be a loopback address (got '${config.HOST}')`);
  }
  const redis = createRedis(config.REDIS_URL, { failFast: true, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, name: 'maestro-api', autoPipelining: true });
  logRedisErrors(redis, logger, 'api');
  const stores = createStores(redis, config);
  const skills = new SkillLoader(config.SKILLS_DIR);
  const limits = {
    title: config.MAX_TITLE_LENGTH,
    text: config.MAX_TEXT_BYTES,
    id: config.MAX_ID_LENGTH,
    array: config.MAX_ARRAY_LENGTH,
    metadata: config.MAX_METADATA_BYTES,
  };
  const schemas = requestSchemas(limits);
  const spawn = new SpawnService(config, stores, limits, logger);
  // A session's manifest files (SESSION_DIR/<id>, when this replica shares it with the worker) and its
  // spawn slot go with it (contract 00 "Spawn"); workers sweep directories left elsewhere.
  stores.ctx.onSessionRemoved = async (sessionId, ownerId) => {
    const dir = join(config.SESSION_DIR, sessionId);
    if (dirname(dir) === config.SESSION_DIR && basename(dir) === sessionId) await rm(dir, { recursive: true, force: true });
    if (ownerId) await spawn.releaseSlot(ownerId, sessionId);
  };
  // The rate limiters' counters (leased-rate-store.ts, which fails at once while it is not ready) and
  // the key ring's first read (which waits for Redis) use a connection of their own.
  const rateLimitRedis = createRedis(config.REDIS_URL, { name: 'maestro-api-ratelimit', commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  rateLimitRedis.on('error', () => undefined);
  const identity = stores.identity;
  let ring: Promise<KeyRing> | undefined;
  const getRing = () => {
    ring ??= loadKeyRing(config.MAESTRO_JWT_KEYS, rateLimitRedis, config.MAESTRO_REDIS_PREFIX).catch((err: unknown) => {
      ring = undefined;
      throw err;
    });
    return ring;
  };
  // Resolved credentials are kept in the replica, dropped on `<prefix>auth` (attached to the subscriber below).
  const principalCache =
    config.MAESTRO_AUTH === 'disabled'
      ? undefined
      : new PrincipalCache({
          ttlMs: config.PRINCIPAL_CACHE_TTL_MS,
          maxEntries: config.PRINCIPAL_CACHE_MAX_ENTRIES,
          lastUsedEveryMs: LAST_USED_EVERY_MS,
          noteKeyUsed: (keyId, at) => identity.noteKeyUsed(keyId, at),
        });
  const stopLocalInvalidation = principalCache ? identity.onAuthChange((userId) => principalCache.invalidateUser(userId)) : () => undefined;
  const auth = config.MAESTRO_AUTH === 'disabled' ? disabledAuthenticator : createAuthenticator(identity, getRing, principalCache);
  if (config.MAESTRO_AUTH === 'disabled') logger.warn('MAESTRO_AUTH=disabled: every request acts as the local admin (loopback only)');
  const metrics = new Metrics('api');
  onEventsPublished((type) => metrics.eventsPublished.inc({ type }));
  metrics.redisProbe = () => (redis.status === 'ready' ? 1 : 0);
  // A spawn job has a priority (its rank among its user's spawns in flight), so BullMQ keeps it
  // `prioritized`, not `waiting`, until a worker takes it: both are the backlog.
  metrics.queueProbe = () => spawn.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
  // The next job to start: the head of each list (one entry each, two reads), the oldest of the two.
  metrics.queueHeadProbe = async () => {
    const heads = await spawn.queue.getJobs(['prioritized', 'wait'], 0, 0, true);
    const times = heads.map((j) => j.timestamp).filter((t) => Number.isFinite(t));
    return times.length ? Math.min(...times) : undefined;
  };
  // The queue dashboard (/admin/queues) lists the spawn queue and the workers' maintenance queue; the
  // latter is only read and acted on from here, on the spawn queue's connection.
  const maintenanceQueue = spawn.otherQueue(MAINTENANCE_QUEUE);
  maintenanceQueue.on('error', (err) => logger.debug({ err: err.message }, 'maintenance queue error'));
  const deps: ApiDeps = {
    dashboardQueues: [
      { queue: spawn.queue, description: 'Spawn jobs: one per spawned session (job id = session id), run by the workers with the maestro CLI' },
      { queue: maintenanceQueue, description: 'Scheduled maintenance: backups (BACKUP_CRON), retention (RETENTION_CRON), spawn reconciliation' },
    ],
    metrics,
    config,
    logger,
    redis,
    rateLimitRedis,
    stores,
    schemas,
    skills,
    spawn,
    auth,
    identity: { identity, ring: getRing, accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS, refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS },
    readyChecks: [() => spawn.ping()],
    draining: {},
    startedAt: Date.now(),
  };

  // The credentials file names the server its key is for (the CLI sends the key to that origin only):
  // SERVER_URL, or when it is the default (`http://localhost:<PORT>`), the port actually bound (PORT=0).
  let listened!: (port: number) => void;
  const boundPort = new Promise<number>((resolve) => (listened = resolve));
  const defaultServerUrl = config.SERVER_URL === `http://localhost:${config.PORT}`;
  const seed = async () => {
    try {
      await stores.templates.seedDefaults();
      if (config.MAESTRO_AUTH === 'required') {
        const given = config.MAESTRO_ADMIN_EMAIL && config.MAESTRO_ADMIN_PASSWORD ? { email: config.MAESTRO_ADMIN_EMAIL, password: config.MAESTRO_ADMIN_PASSWORD } : undefined;
        const apiUrl = defaultServerUrl ? `http://localhost:${await boundPort}` : config.SERVER_URL;
        await bootstrapAdmin(identity, redis, config.MAESTRO_REDIS_PREFIX, config.MAESTRO_CREDENTIALS_FILE, apiUrl, logger, given);
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'template seeding deferred until Redis answers');
    }
  };
  redis.on('ready', () => void seed());

  const app = createApp(deps);
  const server = createServer(app);
  const trustProxy = app.get('trust proxy fn') as (addr: string, hop: number) => boolean;
  limitConnections(server, {
    maxConnections: config.MAX_CONNECTIONS,
    maxPerIp: config.MAX_CONNECTIONS_PER_IP,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    isTrustedProxy: (addr) => trustProxy(addr, 0),
    onRefused: (reason) => metrics.connectionsRefused.inc({ reason }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  listened((server.address() as AddressInfo).port);
  const subscriber = createRedis(config.REDIS_URL, { name: 'maestro-api-sub' });
  logRedisErrors(subscriber, logger, 'api-subscriber');
  principalCache?.attach(subscriber, `${config.MAESTRO_REDIS_PREFIX}auth`);
  const gateway = new WsGateway({
    redis,
    subscriber,
    keys: stores.ctx.keys,
    logger,
    nodeId: config.NODE_ID,
    heartbeatMs: config.WS_HEARTBEAT_MS,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    replayPage: config.WS_REPLAY_PAGE,
    maxConnectionsPerUser: config.WS_MAX_CONNECTIONS_PER_USER,
    readableProjects: (p) => stores.projects.readableIds(p),
    canRead,
    renderSession: async (pid, sid) => (await stores.sessions.read(pid, sid, 'whole'))?.json,
    coalesceMs: config.SESSION_UPDATE_COALESCE_MS,
    authenticate: (req) => auth.fromUpgrade(req),
    refreshPrincipal: (p) => auth.refresh(p),
    metrics,
    allowedOrigins: config.CORS_ORIGINS,
  });
  await gateway.attach(server);
  void skills.attachInvalidation(subscriber, redis, stores.ctx.keys.skillsChannel).catch((err: Error) =>
    logger.warn({ err: err.message }, 'skill invalidation subscription failed'),
  );
  await Promise.race([gateway.subscribed, new Promise((r) => setTimeout(r, 2000))]);
  deps.wsStatus = () => gateway.status();
  const port = (server.address() as AddressInfo).port;
  // METRICS_PORT: the operational endpoints without the metrics token, on a port of their own.
  let opsServer: Server | undefined;
  if (config.METRICS_PORT !== undefined) {
    opsServer = createServer(createOpsApp(deps));
    await new Promise<void>((resolve, reject) => {
      opsServer!.once('error', reject);
      opsServer!.listen(config.METRICS_PORT, config.HOST, () => resolve());
    });
  }
  const metricsPort = opsServer ? (opsServer.address() as AddressInfo).port : undefined;
  logger.info({ port, host: config.HOST, nodeId: config.NODE_ID, metricsPort }, `Maestro API listening on http://${config.HOST}:${port}`);

  const close = async () => {
    // Readiness turns false first, and the replica keeps serving for SHUTDOWN_DRAIN_DELAY_MS, so the
    // load balancer (a Kubernetes readiness probe, an nginx health check) stops sending it requests
    // before its listener closes and its WebSockets get 1001 (issue 16).
    // At most SHUTDOWN_TIMEOUT_MS − 2 s, so the drain itself still fits before the hard stop.
    deps.draining!.since = Date.now();
    const delay = Math.min(config.SHUTDOWN_DRAIN_DELAY_MS, Math.max(0, config.SHUTDOWN_TIMEOUT_MS - 2000));
    if (delay > 0) {
      logger.info({ ms: delay }, 'shutting down: not ready, still serving');
      await new Promise((r) => setTimeout(r, delay));
    }
    stopLocalInvalidation();
    opsServer?.close();
    await gateway.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await maintenanceQueue.close().catch(() => undefined);
    await spawn.close();
    rateLimitRedis.disconnect();
    await redis.quit().catch(() => redis.disconnect());
  };
  return { server, port, metricsPort, deps, gateway, principalCache, close };
}

if (isMain(import.meta.url)) runMain('api', startApi);
