import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import type { Keys } from '../../shared/keys.js';
import type { RedisClient } from '../../shared/redis-connection.js';
import { canRead } from '../../shared/access/policy.js';
import { credentialScope } from '../../shared/principal.js';
import type { LateResponse } from '../http.js';

interface StoredResponse {
  state: 'pending' | 'done';
  hash: string;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** The project the stored result belongs to: a replay re-checks that the caller may still read it. */
  projectId?: string;
}

/** The project a stored response's body belongs to (an entity's `projectId`, a spawn's session's, a new project's id). */
function projectOfResponse(path: string, body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { projectId?: unknown; id?: unknown; session?: { projectId?: unknown } };
    if (typeof v?.projectId === 'string') return v.projectId;
    if (typeof v?.session?.projectId === 'string') return v.session.projectId;
    if (path === '/projects' && typeof v?.id === 'string') return v.id;
  } catch {
    /* not JSON: nothing project-specific */
  }
  return undefined;
}

const REPLAYED_HEADERS = ['content-type', 'etag', 'location'];
/** How long a claim outlives a request timeout if its handler never reports an outcome (s). */
const PENDING_AFTER_TIMEOUT_SECONDS = 120;

/**
 * `Idempotency-Key` on POST (contract 00 "Concurrency and retries"): the first response (any status
 * below 500) is stored for `ttlSeconds` and replayed for a retry with the same key and body; the same
 * key with another body → 409 CONFLICT; a retry while the first is still running → 409 CONFLICT.
 * A 5xx is not stored, so a retry runs again. Records are per credential (contract 00: per principal
 * and scope: each API key has its own, a user's tokens share one), never for an unauthenticated
 * request or an `/auth/*` route (their answers are credentials), and keep a credential-bearing
 * response without its secret (`res.locals.replayBody`, see sendJson). A replay re-checks that the
 * caller may still read the result's project. A request answered 503 by the
 * request timeout keeps its claim until its handler finishes, and then the handler's real outcome is
 * stored: a retry gets 409 "still in progress" meanwhile and the original 201 afterwards — never a
 * second write.
 */
export function idempotency(redis: RedisClient, keys: Keys, ttlSeconds: number): RequestHandler {
  // Decided without a promise for every request that carries no key (almost all of them).
  const claim = withKey(redis, keys, ttlSeconds);
  return (req, res, next) => {
    if (req.method !== 'POST' || req.headers['idempotency-key'] === undefined || !req.principal || req.path.startsWith('/auth/')) return next();
    return claim(req, res, next);
  };
}

/** The part of `idempotency` for a POST with an `Idempotency-Key` and a principal. */
function withKey(redis: RedisClient, keys: Keys, ttlSeconds: number): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('idempotency-key')!;
    const caller = req.principal!;
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
    const redisKey = keys.idempotency(credentialScope(caller), key);
    const pending: StoredResponse = { state: 'pending', hash };
    const claimed = await redis.set(redisKey, JSON.stringify(pending), 'EX', ttlSeconds, 'NX');
    if (claimed !== 'OK') {
      const raw = await redis.get(redisKey);
      const stored = raw ? (JSON.parse(raw) as StoredResponse) : undefined;
      if (!stored) throw new ConflictError('Idempotency-Key expired during the request; retry');
      if (stored.hash !== hash) throw new ConflictError('Idempotency-Key was already used with a different request');
      if (stored.state === 'pending') throw new ConflictError('A request with this Idempotency-Key is still in progress');
      if (stored.projectId && !canRead(caller, stored.projectId)) throw new ConflictError('Idempotency-Key was used for a result this credential cannot read');
      for (const [h, v] of Object.entries(stored.headers ?? {})) res.setHeader(h, v);
      res.setHeader('Idempotent-Replayed', 'true');
      res.status(stored.status ?? 200).send(stored.body ?? '');
      return;
    }
    const store = (status: number, bodyText: string, headers: Record<string, string>): Promise<void> => {
      if (status >= 500) return redis.del(redisKey).then(() => undefined);
      const projectId = projectOfResponse(req.path, bodyText);
      const done: StoredResponse = { state: 'done', hash, status, body: bodyText, headers, ...(projectId ? { projectId } : {}) };
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
    captureAndStore(res, (status, sentText) => {
      const bodyText = (res.locals.replayBody as string | undefined) ?? sentText;
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
