import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../../shared/errors.js';
import { isRedisUnavailable } from '../../shared/redis-connection.js';
import type { Logger } from '../../shared/logger.js';
import { answeredAlready } from '../http.js';

/** JSON 404 for unknown routes (contract 00 "Input"). */
export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: true, code: 'NOT_FOUND', message: `Cannot ${req.method} ${req.path}` });
};

/**
 * The one place errors become responses: AppError → its envelope (A with `statusCode`, B without);
 * body-parser errors → 400 VALIDATION_ERROR / 413 PAYLOAD_TOO_LARGE; Redis unreachable or slow →
 * 503 UNAVAILABLE with `Retry-After`; anything else → 500 INTERNAL_ERROR, logged with the request id.
 * No stack trace, Redis text or path ever reaches the client (contract 00 "Errors added").
 */
export function errorHandler(logger: Logger, onRedisError?: () => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const late = res.headersSent;
    let e: AppError;
    const type = (err as { type?: string })?.type;
    if (err instanceof AppError) e = err;
    else if (type === 'entity.parse.failed') {
      e = new AppError(400, 'VALIDATION_ERROR', 'Malformed JSON body', {
        details: [{ path: 'body', message: 'Malformed JSON' }],
      });
    } else if (type === 'entity.too.large') {
      e = new AppError(413, 'PAYLOAD_TOO_LARGE', 'Request body too large', { envelope: 'route' });
    } else if (typeof (err as { status?: number }).status === 'number' && (err as { status: number }).status >= 400 && (err as { status: number }).status < 500) {
      // other client errors raised by Express or body-parser, e.g. a path that is not valid URI encoding
      e = new AppError(400, 'VALIDATION_ERROR', type ? 'Invalid request body' : 'Malformed request', {
        details: [{ path: type ? 'body' : 'path', message: type ? 'Invalid request body' : 'Malformed request' }],
      });
    } else if (isRedisUnavailable(err)) {
      onRedisError?.();
      logger.warn({ reqId: req.id, err: (err as Error).message }, 'redis unavailable');
      e = new AppError(503, 'UNAVAILABLE', 'Service temporarily unavailable', {
        envelope: 'route',
        headers: { 'Retry-After': '1' },
      });
    } else {
      logger.error({ reqId: req.id, err }, 'unhandled error');
      e = new AppError(500, 'INTERNAL_ERROR', 'Internal server error', { envelope: 'route' });
    }
    const envelope: Record<string, unknown> = { error: true };
    if (e.envelope === 'service') envelope.statusCode = e.status;
    envelope.code = e.code;
    envelope.message = e.message;
    if (e.details !== undefined) envelope.details = e.details;
    if (late) {
      // the client was answered already (request timeout): hand the outcome on, then drop the socket
      // if the response is still being written
      answeredAlready(res, e.status, JSON.stringify(envelope));
      if (!res.writableEnded) res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    res.status(e.status).json(envelope);
  };
}
