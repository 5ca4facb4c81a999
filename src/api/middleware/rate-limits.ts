import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
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

const ipKey = (req: Request) => ipKeyGenerator(req.ip ?? 'unknown');

/**
 * Builds the limiters over Redis, so they hold across every replica, counting through leased blocks
 * of hits (leased-rate-store.ts: one Redis call per max(1, floor(limit / RATE_LIMIT_LEASE_DIVISOR))
 * requests of a key, never more than the limit per window). Each window is one minute; limits come
 * from RATE_LIMIT_* (0 disables a limiter). Over the limit → 429 RATE_LIMITED with `Retry-After`
 * (seconds). If Redis is away the limiter lets the request pass (the request itself then answers 503).
 */
export function createRateLimiters(redis: RedisClient, config: Config): RateLimiters {
  const make = (name: string, limit: number, key: (req: Request) => string): RequestHandler | undefined => {
    if (limit <= 0) return undefined;
    return rateLimit({
      windowMs: 60_000,
      limit,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      passOnStoreError: true,
      keyGenerator: key,
      store: new LeasedRateStore({
        redis,
        prefix: `${config.MAESTRO_REDIS_PREFIX}rl:${name}:`,
        leaseDivisor: config.RATE_LIMIT_LEASE_DIVISOR,
        maxKeys: config.RATE_LIMIT_LOCAL_KEYS,
      }),
      handler: (req, res) => {
        const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
        res.setHeader('Retry-After', String(seconds));
        res.status(429).json({ error: true, code: 'RATE_LIMITED', message: 'Too many requests; retry later' });
      },
    });
  };
  const principalKey = (req: Request) => (req.principal ? `p:${req.principal.id}` : `ip:${ipKey(req)}`);
  return {
    perIp: make('ip', config.RATE_LIMIT_PER_MINUTE, ipKey),
    perPrincipal: make('principal', config.RATE_LIMIT_PRINCIPAL_PER_MINUTE, principalKey),
    auth: make('auth', config.RATE_LIMIT_AUTH_PER_MINUTE, ipKey),
    spawn: make('spawn', config.RATE_LIMIT_SPAWN_PER_MINUTE, principalKey),
  };
}
