import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import type { Config } from '../../shared/config.js';
import type { RedisClient } from '../../shared/redis-connection.js';
import { LeasedRateStore } from './leased-rate-store.js';

/**
 * The limiters of the API (security issue: global per IP, per principal, strict for auth and spawn);
 * undefined for a limit configured as 0 (off), so that it costs a request nothing.
 */
export interface RateLimiters {
  perIp?: RequestHandler;
  perPrincipal?: RequestHandler;
  auth?: RequestHandler;
  spawn?: RequestHandler;
}


/** A window's outcome for one request, as express-rate-limit sets it on `req.rateLimit`. */
export interface RateLimitInfo {
  limit: number;
  used: number;
  remaining: number;
  resetTime: Date | undefined;
  key: string;
}

const WINDOW_MS = 60_000;

/** The 429 of every limiter: `Retry-After` in seconds until the window ends, and the envelope. */
function refuse(req: Request, res: Response): void {
  const reset = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime;
  const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
  res.setHeader('Retry-After', String(seconds));
  res.status(429).json({ error: true, code: 'RATE_LIMITED', message: 'Too many requests; retry later' });
}

/**
 * One limiter over an express-rate-limit `Store`, doing what `rateLimit()` did with our options
 * (standardHeaders draft-7, no legacy headers, passOnStoreError): count the request under `key(req)`,
 * set `req.rateLimit`, `RateLimit-Policy: <limit>;w=<window s>` and `RateLimit: limit=…,
 * remaining=…, reset=<s>`, answer 429 over the limit, and let the request pass when the store fails
 * (Redis away: the request then answers 503 by itself). A hit the store answers synchronously (a
 * leased one) is decided without a promise (issue 12: `rateLimit()` awaited five times per request).
 */
export function limiter(limit: number, key: (req: Request) => string, store: Store): RequestHandler {
  store.init?.({ windowMs: WINDOW_MS, limit } as Options);
  const policy = `${limit};w=${Math.ceil(WINDOW_MS / 1000)}`;
  const decide = (req: Request, res: Response, next: NextFunction, k: string, r: IncrementResponse) => {
    const remaining = Math.max(limit - r.totalHits, 0);
    (req as Request & { rateLimit?: RateLimitInfo }).rateLimit = { limit, used: r.totalHits, remaining, resetTime: r.resetTime, key: k };
    if (!res.headersSent) {
      const reset = r.resetTime ? Math.max(0, Math.ceil((r.resetTime.getTime() - Date.now()) / 1000)) : Math.ceil(WINDOW_MS / 1000);
      res.setHeader('RateLimit-Policy', policy);
      res.setHeader('RateLimit', `limit=${limit}, remaining=${remaining}, reset=${reset}`);
    }
    if (r.totalHits > limit) refuse(req, res);
    else next();
  };
  return (req, res, next) => {
    const k = key(req);
    let r: Promise<IncrementResponse> | IncrementResponse;
    try {
      r = store.increment(k);
    } catch {
      return next();
    }
    if (r instanceof Promise) {
      r.then(
        (v) => decide(req, res, next, k, v),
        () => next(),
      );
    } else decide(req, res, next, k, r);
  };
}

/**
 * Builds the limiters over Redis, so they hold across every replica, counting through leased blocks
 * of hits (leased-rate-store.ts: one Redis call per max(1, floor(limit / RATE_LIMIT_LEASE_DIVISOR))
 * requests of a key, never more than the limit per window). Each window is one minute; limits come
 * from RATE_LIMIT_* (0 disables a limiter). Over the limit → 429 RATE_LIMITED with `Retry-After`
 * (seconds). If Redis is away the limiter lets the request pass (the request itself then answers 503).
 * `hopIp` names the caller's address of a request the replica sent to itself for that caller (per-IP
 * keys use it instead of the replica's own address).
 */
export function createRateLimiters(redis: RedisClient, config: Config, hopIp: (req: Request) => string | undefined = () => undefined): RateLimiters {
  // A call the replica makes to itself for a caller (the MCP tools, api/mcp-loopback.ts) counts under that caller's address.
  const ipKey = (req: Request) => ipKeyGenerator(hopIp(req) ?? req.ip ?? 'unknown');
  const make = (name: string, limit: number, key: (req: Request) => string): RequestHandler | undefined => {
    if (limit <= 0) return undefined;
    const store = new LeasedRateStore({
      redis,
      prefix: `${config.MAESTRO_REDIS_PREFIX}rl:${name}:`,
      leaseDivisor: config.RATE_LIMIT_LEASE_DIVISOR,
      maxKeys: config.RATE_LIMIT_LOCAL_KEYS,
    });
    return limiter(limit, key, store);
  };
  const principalKey = (req: Request) => (req.principal ? `p:${req.principal.id}` : `ip:${ipKey(req)}`);
  return {
    perIp: make('ip', config.RATE_LIMIT_PER_MINUTE, ipKey),
    perPrincipal: make('principal', config.RATE_LIMIT_PRINCIPAL_PER_MINUTE, principalKey),
    auth: make('auth', config.RATE_LIMIT_AUTH_PER_MINUTE, ipKey),
    spawn: make('spawn', config.RATE_LIMIT_SPAWN_PER_MINUTE, principalKey),
  };
}
