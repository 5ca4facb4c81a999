import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { isMain, logRedisErrors, runMain } from '../shared/process-lifecycle.js';
import { createRedis } from '../shared/redis-connection.js';
import { createStores } from '../shared/stores/index.js';
import { SpawnWorker } from './spawn-worker.js';

/** A running worker process. */
export interface WorkerProcess {
  spawn: SpawnWorker;
  /** Graceful stop: unfinished jobs are handed back to the queue (BullMQ), connections closed. */
  close(): Promise<void>;
}

/**
 * Starts one worker process: the BullMQ `spawn` worker (WORKER_CONCURRENCY jobs at once) over its own
 * store connection (contract 04, DESIGN.md "Processes").
 */
export async function startWorker(config: Config, logger: Logger): Promise<WorkerProcess> {
  const redis = createRedis(config.REDIS_URL, { name: 'maestro-worker', commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  logRedisErrors(redis, logger, 'worker');
  const stores = createStores(redis, config);
  const spawn = new SpawnWorker(config, stores, logger);
  await spawn.worker.waitUntilReady().catch(() => undefined);
  logger.info({ concurrency: config.WORKER_CONCURRENCY, generator: config.MANIFEST_GENERATOR, nodeId: config.NODE_ID }, 'Maestro worker started');
  return {
    spawn,
    close: async () => {
      await spawn.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (isMain(import.meta.url)) runMain('worker', startWorker);
