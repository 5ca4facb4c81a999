import type { Logger } from './logger.js';

/**
 * Runs `stop` once on SIGTERM/SIGINT; a second signal or `hardStopMs` (ms) elapsing forces exit(1)
 * (contract 06 "Process behaviour", DESIGN.md "graceful shutdown").
 */
export function onShutdownSignal(logger: Logger, hardStopMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: forcing exit');
      process.exit(1);
    }
    stopping = true;
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
