import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { isMain, logRedisErrors, runMain } from '../shared/process-lifecycle.js';
import { createRedis } from '../shared/redis-connection.js';

/** A running worker process. */
export interface WorkerProcess {
  close(): Promise<void>;
}

/**
 * Starts one worker: today it holds a Redis connection and reports readiness; the BullMQ `spawn`
 * worker (contract 04, issue "Spawn") plugs in here.
 */
export async function startWorker(config: Config, logger: Logger): Promise<WorkerProcess> {
  const redis = createRedis(config.REDIS_URL, { name: 'maestro-worker', commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  logRedisErrors(redis, logger, 'worker');
  logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'Maestro worker started');
  return {
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (isMain(import.meta.url)) runMain('worker', startWorker);
