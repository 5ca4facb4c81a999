import type { Logger } from '../shared/logger.js';
import type { ClaimStore } from '../shared/stores/task-claims.js';

/**
 * Releases lapsed claims (contract 08 "Claims": a claim whose lease lapses without renewal is released
 * by the server with a `task:updated`): every `everyMs` (CLAIM_SWEEP_MS) each worker runs
 * `ClaimStore.sweep`, which reads only what is due. A timer of its own rather than a maintenance-queue
 * job, so a long backup on that queue (concurrency 1) never holds leases past their time; sweeps of
 * several workers at once are safe (each release is a guarded commit, the index update a
 * compare-and-set). Errors (Redis away) are logged and the next tick tries again. `stop()` ends it.
 */
export function startClaimSweeper(claims: ClaimStore, everyMs: number, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    claims
      .sweep()
      .then((n) => {
        if (n) logger.info({ released: n }, 'released lapsed claims');
      })
      .catch((err: Error) => logger.debug({ err: err.message }, 'claim sweep failed'))
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
