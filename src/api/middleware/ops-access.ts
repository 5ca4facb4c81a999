import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { allows } from '../../shared/access/policy.js';
import type { Config } from '../../shared/config.js';
import { ForbiddenError, UnauthorizedError } from '../../shared/errors.js';
import type { Authenticator } from './authenticate.js';

/** Passes every request: the operations port (METRICS_PORT), which only the cluster's network reaches. */
export const openOps: RequestHandler = (_req, _res, next) => next();

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Guard of the operational endpoints on the API port — `/metrics`, `/health?deep=1`, `/ws-status`
 * (security issue 11, item 18; `/docs` is open since issue 16; `/health` and `/ready` stay open for probes). Passes with
 * MAESTRO_AUTH=disabled, with `Authorization: Bearer <METRICS_TOKEN>` (what a Prometheus scrape
 * config sends), or with a credential the policy allows `ops:read` (a global admin). Else 401
 * UNAUTHORIZED without a credential, 403 FORBIDDEN with another one.
 */
export function opsAccess(config: Pick<Config, 'MAESTRO_AUTH' | 'METRICS_TOKEN'>, auth: Authenticator): RequestHandler {
  if (config.MAESTRO_AUTH === 'disabled') return openOps;
  const token = config.METRICS_TOKEN;
  return async (req, _res, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token && bearer && sameText(bearer, token)) return next();
    const p = await auth.fromHeaders(req.headers).catch(() => undefined);
    if (!p) throw new UnauthorizedError('Operational endpoints need the metrics token (Authorization: Bearer <METRICS_TOKEN>) or an admin credential');
    if (!allows(p, 'ops:read')) throw new ForbiddenError('Only an admin or the metrics token can read operational endpoints');
    next();
  };
}
