import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import type { Keys } from '../../shared/keys.js';
import type { RedisClient } from '../../shared/redis-connection.js';
import { principal, type LateResponse } from '../http.js';

interface StoredResponse {
  state: 'pending' | 'done';
  hash: string;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

const REPLAYED_HEADERS = ['content-type', 'etag', 'location'];
/** How long a claim outlives a request timeout if its handler never reports an outcome (s). */
const PENDING_AFTER_TIMEOUT_SECONDS = 120;

/**
 * `Idempotency-Key` on POST (contract 00 "Concurrency and retries"): the first response (any status
 * below 500) is stored for `ttlSeconds` and replayed for a retry with the same key and body; the same
 * key with another body → 409 CONFLICT; a retry while the first is still running → 409 CONFLICT.
 * A 5xx is not stored, so a retry runs again. Keys are per principal. A request answered 503 by the
 * request timeout keeps its claim until its handler finishes, and then the handler's real outcome is
 * stored: a retry gets 409 "still in progress" meanwhile and the original 201 afterwards — never a
 * second write.
 */
export function idempotency(redis: RedisClient, keys: Keys, ttlSeconds: number): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (req.method !== 'POST' || key === undefined) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new ValidationError('Invalid Idempotency-Key', [
        { path: 'headers.idempotency-key', message: 'must be 1-255 visible ASCII characters' },
      ]);
    }
    const hash = createHash('sha256')
      .update(req.method)
      .update('\0')
      .update(req.url)
      .update('\0')
      .update(JSON.stringify(req.body ?? {}))
      .digest('hex');
    const redisKey = keys.idempotency(principal(req).id, key);
    const pending: StoredResponse = { state: 'pending', hash };
    const claimed = await redis.set(redisKey, JSON.stringify(pending), 'EX', ttlSeconds, 'NX');
    if (claimed !== 'OK') {
      const raw = await redis.get(redisKey);
      const stored = raw ? (JSON.parse(raw) as StoredResponse) : undefined;
      if (!stored) throw new ConflictError('Idempotency-Key expired during the request; retry');
      if (stored.hash !== hash) throw new ConflictError('Idempotency-Key was already used with a different request');
      if (stored.state === 'pending') throw new ConflictError('A request with this Idempotency-Key is still in progress');
      for (const [h, v] of Object.entries(stored.headers ?? {})) res.setHeader(h, v);
      res.setHeader('Idempotent-Replayed', 'true');
      res.status(stored.status ?? 200).send(stored.body ?? '');
      return;
    }
    const store = (status: number, bodyText: string, headers: Record<string, string>): Promise<void> => {
      if (status >= 500) return redis.del(redisKey).then(() => undefined);
      const done: StoredResponse = { state: 'done', hash, status, body: bodyText, headers };
      return redis.set(redisKey, JSON.stringify(done), 'EX', ttlSeconds).then(() => undefined);
    };
    if (res.headersSent) {
      // timed out (503) while claiming: the write never ran, so a retry may run it
      await redis.del(redisKey).catch(() => undefined);
      return;
    }
    // After a timeout the handler still finishes: its real outcome is stored for the retry.
    res.locals.lateResponse = ((status, json, headers) => {
      const kept = Object.fromEntries(Object.entries(headers).filter(([h]) => REPLAYED_HEADERS.includes(h)));
      void store(status, json, kept).catch(() => undefined);
    }) satisfies LateResponse;
    captureAndStore(res, (status, bodyText) => {
      if (res.locals.timedOut) {
        // the 503 of the request timeout: the write may still happen, so keep the claim (bounded by
        // a short expiry in case the handler never finishes) until lateResponse stores the outcome
        // (not awaited: the 503 must not wait for a slow Redis)
        void redis.expire(redisKey, PENDING_AFTER_TIMEOUT_SECONDS).catch(() => undefined);
        return Promise.resolve();
      }
      const headers: Record<string, string> = {};
      for (const h of REPLAYED_HEADERS) {
        const v = res.getHeader(h);
        if (v !== undefined) headers[h] = String(v);
      }
      return store(status, bodyText, headers);
    });
    next();
  };
}

/** Wraps `res.send` to capture the body, then stores it before the response is finished. */
function captureAndStore(res: Response, store: (status: number, body: string) => Promise<void>): void {
  const send = res.send.bind(res);
  let done = false;
  res.send = ((payload?: unknown) => {
    if (done) return send(payload);
    done = true;
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : JSON.stringify(payload ?? '');
    store(res.statusCode, text).then(
      () => send(payload),
      () => send(payload),
    );
    return res;
  }) as Response['send'];
}
