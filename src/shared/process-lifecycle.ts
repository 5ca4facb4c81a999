import { loadConfig, type Config } from './config.js';
import { ConfigError } from './errors.js';
import { createLogger, prettyLogs, type Logger } from './logger.js';
import type { RedisClient } from './redis-connection.js';

/** What `onShutdownSignal` logs through: pino's `(fields, message)` calls (a Logger, or an adapter). */
export type ShutdownLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/**
 * Runs `stop` once on SIGTERM/SIGINT; the same signal a second time, or `hardStopMs` (ms) elapsing,
 * forces exit(1) (contract 06 "Process behaviour": a second SIGINT; DESIGN.md "graceful shutdown").
 * The other signal during shutdown is ignored.
 */
export function onShutdownSignal(logger: ShutdownLogger, hardStopMs: number, stop: () => Promise<void>): void {
  let stopping: NodeJS.Signals | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Ctrl-C under `npm start` delivers SIGINT from the terminal and SIGTERM from the supervisor at
      // once: only the same signal again (a second Ctrl-C) means "stop now".
      if (signal !== stopping) return;
      logger.warn({ signal }, 'second signal: forcing exit');
      process.exit(1);
    }
    stopping = signal;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown took too long: forcing exit');
      process.exit(1);
    }, hardStopMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** True when `moduleUrl` is the script Node was started with (ESM "main" check). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return moduleUrl === new URL(`file://${entry.startsWith('/') ? '' : process.cwd() + '/'}${entry}`).href;
}

/**
 * Entry point of a process: parses the configuration (a bad value → message naming the variable on
 * stderr, exit 1; contract 06), starts the component, and stops it gracefully on SIGTERM/SIGINT.
 */
export function runMain(name: string, start: (config: Config, logger: Logger) => Promise<{ close(): Promise<void> }>): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }
  const logger = createLogger(name, config.LOG_LEVEL, prettyLogs(config.LOG_FORMAT, config.NODE_ENV));
  start(config, logger).then(
    (component) => onShutdownSignal(logger, config.SHUTDOWN_TIMEOUT_MS, () => component.close()),
    (err) => {
      logger.fatal({ err }, 'failed to start');
      process.exit(1);
    },
  );
}

/** Logs a connection's errors at most once per `everyMs` (ms) so an outage does not flood the log. */
export function logRedisErrors(redis: RedisClient, logger: Logger, name: string, everyMs = 5000): void {
  let last = 0;
  redis.on('error', (err: Error) => {
    const now = Date.now();
    if (now - last > everyMs) {
      last = now;
      logger.warn({ connection: name, err: err.message }, 'redis connection error');
    }
  });
  redis.on('ready', () => logger.info({ connection: name }, 'redis ready'));
}
