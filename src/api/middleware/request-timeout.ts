import type { RequestHandler } from 'express';

/**
 * Answers 503 UNAVAILABLE ("Request timed out", `Retry-After: 1`) when a request has not been answered
 * within `ms` (REQUEST_TIMEOUT_MS, default 30 s), e.g. while Redis is too slow. Paths for which
 * `skip` holds (spawn, which has its own bounded wait) are not timed here. The handler keeps running:
 * what it produces later goes to `res.locals.lateResponse` (see http.ts `answeredAlready`), which is
 * how an Idempotency-Key retry learns whether the write happened. Sets `res.locals.timedOut`.
 */
export function requestTimeout(ms: number, skip: (path: string) => boolean): RequestHandler {
  return (req, res, next) => {
    if (ms <= 0 || skip(req.path)) return next();
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      res.locals.timedOut = true;
      res.setHeader('Retry-After', '1');
      res.status(503).json({ error: true, code: 'UNAVAILABLE', message: 'Request timed out' });
    }, ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}
