import { loadConfig, type Config } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { isMain, onShutdownSignal } from '../shared/process-lifecycle.js';
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
  let last = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - last > 5000) {
      last = Date.now();
      logger.warn({ err: err.message }, 'redis connection error');
    }
  });
  redis.on('ready', () => logger.info({ nodeId: config.NODE_ID }, 'worker connected to Redis'));
  logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'Maestro worker started');
  return {
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (isMain(import.meta.url)) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }
  const logger = createLogger('worker', config.LOG_LEVEL);
  startWorker(config, logger).then(
    (w) => onShutdownSignal(logger, config.SHUTDOWN_TIMEOUT_MS, w.close),
    (err) => {
      logger.fatal({ err }, 'failed to start');
      process.exit(1);
    },
  );
}
