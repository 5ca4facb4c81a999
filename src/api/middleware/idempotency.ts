import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import type { Keys } from '../../shared/keys.js';
import type { RedisClient } from '../../shared/redis-connection.js';
import { principal } from '../http.js';

interface StoredResponse {
  state: 'pending' | 'done';
  hash: string;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
}

const REPLAYED_HEADERS = ['content-type', 'etag', 'location'];

/**
 * `Idempotency-Key` on POST (contract 00 "Concurrency and retries"): the first response (any status
 * below 500) is stored for `ttlSeconds` and replayed for a retry with the same key and body; the same
 * key with another body → 409 CONFLICT; a retry while the first is still running → 409 CONFLICT.
 * A 5xx is not stored, so a retry runs again. Keys are per principal.
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
    captureAndStore(res, (status, bodyText) => {
      if (status >= 500) return redis.del(redisKey).then(() => undefined);
      const headers: Record<string, string> = {};
      for (const h of REPLAYED_HEADERS) {
        const v = res.getHeader(h);
        if (v !== undefined) headers[h] = String(v);
      }
      const done: StoredResponse = { state: 'done', hash, status, body: bodyText, headers };
      return redis.set(redisKey, JSON.stringify(done), 'EX', ttlSeconds).then(() => undefined);
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
