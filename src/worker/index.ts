import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { isMain, logRedisErrors, runMain } from '../shared/process-lifecycle.js';
import { createRedis } from '../shared/redis-connection.js';
import { createStores } from '../shared/stores/index.js';
import { createServer, type Server } from 'node:http';
import { Queue } from 'bullmq';
import { Metrics, onEventsPublished } from '../shared/metrics.js';
import { bullPrefix, SPAWN_QUEUE } from '../shared/spawn/spawn-queue.js';
import { SpawnWorker } from './spawn-worker.js';
import { MaintenanceWorker } from './maintenance-worker.js';
import { startClaimSweeper } from './claim-sweeper.js';

/** A running worker process. */
export interface WorkerProcess {
  spawn: SpawnWorker;
  /** Scheduled backups and retention. */
  maintenance: MaintenanceWorker;
  /** Port of the worker's /metrics (undefined when it could not listen). */
  metricsPort?: number;
  /** Graceful stop: unfinished jobs are handed back to the queue (BullMQ), connections closed. */
  close(): Promise<void>;
}

/**
 * Starts one worker process: the BullMQ `spawn` worker (WORKER_CONCURRENCY jobs at once) over its own
 * store connection (contract 04, DESIGN.md "Processes"), and the maintenance jobs (scheduled backups,
 * session retention; issue 6).
 */
export async function startWorker(config: Config, logger: Logger): Promise<WorkerProcess> {
  const redis = createRedis(config.REDIS_URL, { name: 'maestro-worker', commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  logRedisErrors(redis, logger, 'worker');
  const stores = createStores(redis, config);
  const metrics = new Metrics('worker');
  onEventsPublished((type) => metrics.eventsPublished.inc({ type }));
  metrics.redisProbe = () => (redis.status === 'ready' ? 1 : 0);
  const queue = new Queue(SPAWN_QUEUE, { connection: redis as never, prefix: bullPrefix(config) });
  queue.on('error', () => undefined);
  metrics.queueProbe = () => queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  const spawn = new SpawnWorker(config, stores, logger, metrics);
  void SpawnWorker.sweepScratch();
  // Manifest files of deleted sessions: swept at start and every hour on every worker (each host's own SESSION_DIR).
  void spawn.sweepOrphanManifests();
  const sweep = setInterval(() => void spawn.sweepOrphanManifests(), 3_600_000);
  sweep.unref();
  const maintenance = new MaintenanceWorker(config, stores, logger, redis, metrics);
  void maintenance.scheduleWithRetry();
  const sweeper = startClaimSweeper(stores.claims, config.CLAIM_SWEEP_MS, logger);
  // Prometheus scrapes the worker at METRICS_PORT (0 = any free port; the port is logged).
  let metricsServer: Server | undefined;
  const port = config.METRICS_PORT ?? 9464;
  {
    metricsServer = createServer((req, res) => {
      if (req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => {
      metricsServer!.once('error', (err) => {
        logger.warn({ err: err.message, port }, 'worker metrics server could not listen');
        metricsServer = undefined;
        resolve();
      });
      metricsServer!.listen(port, config.HOST, () => resolve());
    });
  }
  const metricsPort = metricsServer ? (metricsServer.address() as { port: number }).port : undefined;
  await spawn.worker.waitUntilReady().catch(() => undefined);
  logger.info({ concurrency: config.WORKER_CONCURRENCY, generator: config.MANIFEST_GENERATOR, nodeId: config.NODE_ID, metricsPort }, 'Maestro worker started');
  return {
    spawn,
    maintenance,
    metricsPort,
    close: async () => {
      sweeper.stop();
      clearInterval(sweep);
      metricsServer?.close();
      await queue.close().catch(() => undefined);
      await spawn.close();
      await maintenance.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (isMain(import.meta.url)) runMain('worker', startWorker);
