import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import type { Config } from '../../shared/config.js';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../../shared/redis-connection.js';

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
 * `SCRIPT LOAD` for the limiter's script: on a Cluster it must reach every master (a key's EVALSHA
 * runs on the master of its slot; loading on one random node left the others answering NOSCRIPT,
 * which turned the limits off). Waits for the connection (start-up only).
 */
async function loadScript(redis: RedisClient, args: string[]): Promise<unknown> {
  if (redis instanceof Cluster) {
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    const results = await Promise.all(redis.nodes('master').map((n) => n.call('SCRIPT', ...args)));
    return results[0];
  }
  return redis.call('SCRIPT', ...args);
}

/**
 * Builds the limiters over Redis (rate-limit-redis), so they hold across every replica. Each window
 * is one minute; limits come from RATE_LIMIT_* (0 disables a limiter). Over the limit → 429
 * RATE_LIMITED with `Retry-After` (seconds). If Redis is away the limiter lets the request pass (the
 * request itself then answers 503).
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
      store: new RedisStore({
        // ioredis `call` sends a raw command (routed by key in Cluster mode). Only the script load at
        // start-up waits for Redis; a count while Redis is away fails at once, so the request goes
        // on (passOnStoreError) and answers 503 quickly instead of waiting in the offline queue.
        sendCommand: (command: string, ...args: string[]) => {
          if (command.toUpperCase() === 'SCRIPT') return loadScript(redis, args) as never;
          return (redis.status === 'ready' ? redis.call(command, ...args) : Promise.reject(new Error('Redis unavailable'))) as never;
        },
        prefix: `${config.MAESTRO_REDIS_PREFIX}rl:${name}:`,
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
