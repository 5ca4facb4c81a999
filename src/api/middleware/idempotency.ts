import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { AppError, ConflictError, ValidationError } from '../../shared/errors.js';
import type { Keys } from '../../shared/keys.js';
import type { RedisClient } from '../../shared/redis-connection.js';
import { withScripts, type ScriptedRedis } from '../../shared/redis-scripts.js';
import { canRead } from '../../shared/access/policy.js';
import { credentialScope } from '../../shared/principal.js';
import { outcomeId, runWithOutcome } from '../../shared/idempotency/request-outcome.js';
import type { LateResponse } from '../http.js';

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

/** Settings of `idempotency` (config: IDEMPOTENCY_TTL_SECONDS, REQUEST_TIMEOUT_MS + IDEMPOTENCY_LEASE_MS). */
export interface IdempotencyOptions {
  /** How long a finished request's response (and its commits' results) is kept for retries, s. */
  ttlSeconds: number;
  /** How long a claim is held for the request that made it, ms: its time limit plus a short lease. */
  leaseMs: (req: Request) => number;
}

/**
 * `Idempotency-Key` on POST (contract 00 "Concurrency and retries"). The first request with a key
 * claims it (held for `leaseMs`, never longer: a request that dies leaves no key blocked); its response
 * below 500 is stored for `ttlSeconds` and replayed for a retry with the same key and body
 * (`Idempotent-Replayed: true`); the same key with another body → 409 CONFLICT; a retry while the claim
 * is held → 409 CONFLICT with `Retry-After`. Every commit the request makes records its result in the
 * same atomic step (request-outcome.ts, commit.lua `outcome`), so a retry after a 5xx, a timeout or a
 * crashed replica re-runs the handler and its commits answer what the first attempt wrote instead of
 * writing again: the write is made once, and the retry gets its real outcome. A 5xx releases the
 * claim at once.
 * Records are per credential (contract 00: per principal and scope: each API key has its own, a user's
 * tokens share one), never for an unauthenticated request or an `/auth/*` route (their answers are
 * credentials), and keep a credential-bearing response without its secret (`res.locals.replayBody`, see
 * sendJson). A replay re-checks that the caller may still read the result's project. A request answered
 * 503 by the request timeout keeps its claim until its handler finishes; then the handler's real
 * outcome is stored. Nothing here ever writes to a response that was already sent (issue 13, item 7).
 */
export function idempotency(redis: RedisClient, keys: Keys, options: IdempotencyOptions): RequestHandler {
  // Decided without a promise for every request that carries no key (almost all of them).
  const claim = withKey(withScripts(redis), keys, options);
  return (req, res, next) => {
    if (req.method !== 'POST' || req.headers['idempotency-key'] === undefined || !req.principal || req.path.startsWith('/auth/')) return next();
    return claim(req, res, next);
  };
}

/** Replays a stored response. */
function replay(res: Response, status: number, body: string, headers: Record<string, string>): void {
  for (const [h, v] of Object.entries(headers)) res.setHeader(h, v);
  res.setHeader('Idempotent-Replayed', 'true');
  res.status(status).send(body);
}

/** The part of `idempotency` for a POST with an `Idempotency-Key` and a principal. */
function withKey(redis: ScriptedRedis, keys: Keys, options: IdempotencyOptions): RequestHandler {
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
    const scope = credentialScope(caller);
    const redisKey = keys.idempotency(scope, key);
    const release = () => redis.maestroIdempotencyRelease(1, redisKey).then(
      () => undefined,
      () => undefined,
    );
    let answer: string[];
    try {
      answer = await redis.maestroIdempotencyClaim(1, redisKey, hash, String(options.leaseMs(req)), String(options.ttlSeconds));
    } catch (err) {
      // The claim may have been made all the same (a command timeout): let a retry have the key
      // as soon as Redis answers again rather than after the lease.
      void release();
      throw err;
    }
    const [outcome, ...rest] = answer;
    if (outcome === 'conflict') throw new ConflictError('Idempotency-Key was already used with a different request');
    if (outcome === 'busy') {
      const seconds = Math.max(1, Math.ceil(Number(rest[0]) / 1000));
      throw new AppError(409, 'CONFLICT', 'A request with this Idempotency-Key is still in progress', { headers: { 'Retry-After': String(seconds) } });
    }
    if (outcome === 'done' || outcome === 'legacy') {
      const [status, body, headers, projectId] =
        outcome === 'done'
          ? [Number(rest[0]), rest[1] ?? '', JSON.parse(rest[2] ?? '{}') as Record<string, string>, rest[3] || undefined]
          : (() => {
              const v = JSON.parse(rest[0]!) as { status?: number; body?: string; headers?: Record<string, string>; projectId?: string };
              return [v.status ?? 200, v.body ?? '', v.headers ?? {}, v.projectId] as const;
            })();
      if (projectId && !canRead(caller, projectId)) throw new ConflictError('Idempotency-Key was used for a result this credential cannot read');
      if (!res.headersSent) replay(res, status, body, headers);
      return;
    }
    if (res.headersSent) {
      // answered (503, the request timeout) while claiming: the write never ran, so a retry may run it
      void release();
      return;
    }
    const store = (status: number, bodyText: string, headers: Record<string, string>): Promise<void> => {
      if (status >= 500) return release();
      const projectId = projectOfResponse(req.path, bodyText);
      return redis
        .multi()
        .hset(redisKey, 'state', 'done', 'status', String(status), 'body', bodyText, 'headers', JSON.stringify(headers), 'projectId', projectId ?? '')
        .hdel(redisKey, 'lease')
        .expire(redisKey, options.ttlSeconds)
        .exec()
        .then(() => undefined);
    };
    // After a timeout the handler still finishes: its real outcome is stored for the retry.
    res.locals.lateResponse = ((status, json, headers) => {
      const kept = Object.fromEntries(Object.entries(headers).filter(([h]) => REPLAYED_HEADERS.includes(h)));
      void store(status, json, kept).catch(() => undefined);
    }) satisfies LateResponse;
    captureAndStore(res, (status, sentText) => {
      // the 503 of the request timeout: the write may still happen, so the claim stays held until
      // lateResponse stores the outcome (or its lease ends)
      if (res.locals.timedOut) return undefined;
      const bodyText = (res.locals.replayBody as string | undefined) ?? sentText;
      const headers: Record<string, string> = {};
      for (const h of REPLAYED_HEADERS) {
        const v = res.getHeader(h);
        if (v !== undefined) headers[h] = String(v);
      }
      // a 5xx goes out at once (Redis may be what failed); its claim is released meanwhile
      if (status >= 500) {
        void store(status, bodyText, headers).catch(() => undefined);
        return undefined;
      }
      return store(status, bodyText, headers);
    });
    const outcomeOfRequest = {
      id: outcomeId(scope, key),
      hash,
      ttlSeconds: options.ttlSeconds,
      firstClaimMs: Number(rest[0]),
      commits: new Map<string, number>(),
      stableIds: 0,
    };
    runWithOutcome(outcomeOfRequest, () => next());
  };
}

/**
 * Wraps `res.send` to capture the body and store it (`store` returns a promise to wait for, or
 * undefined) before the response goes out. A response already sent by then (the request timeout's 503
 * went out while the store waited for a slow Redis) is left alone: nothing is ever written twice.
 */
function captureAndStore(res: Response, store: (status: number, body: string) => Promise<void> | undefined): void {
  const send = res.send.bind(res);
  let captured = false;
  res.send = ((payload?: unknown) => {
    if (res.headersSent) return res;
    if (captured) return send(payload);
    captured = true;
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : JSON.stringify(payload ?? '');
    const stored = store(res.statusCode, text);
    if (!stored) return send(payload);
    const finish = () => {
      if (!res.headersSent) send(payload);
    };
    stored.then(finish, finish);
    return res;
  }) as Response['send'];
}
