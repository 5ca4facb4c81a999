import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, RequestHandler } from 'express';
import type { IdentityStore } from '../../shared/auth/identity-store.js';
import { verifyAccessToken, type KeyRing } from '../../shared/auth/tokens.js';
import { UnauthorizedError } from '../../shared/errors.js';
import { LOCAL_ADMIN, type Principal } from '../../shared/principal.js';
import type { PrincipalCache } from './principal-cache.js';

/** Resolves credentials to a principal (or undefined when none is given). */
export interface Authenticator {
  /** `Authorization: Bearer <JWT>` or `X-API-Key: <key>`; throws 401 for a bad credential. */
  fromHeaders(headers: IncomingMessage['headers']): Promise<Principal | undefined>;
  /**
   * The principal of the headers' credential when it is known without any I/O (a principal cache
   * hit), else undefined (then `fromHeaders` decides).
   */
  cached?(headers: IncomingMessage['headers']): Principal | undefined;
  /** A WebSocket upgrade: the headers above, or `?ticket=` (single use). */
  fromUpgrade(req: IncomingMessage): Promise<Principal | undefined>;
  /** The same principal read again: its roles, and undefined once its key is revoked or its user gone. */
  refresh(p: Principal): Promise<Principal | undefined>;
  /**
   * Set when every request acts as this one principal whatever it sends (MAESTRO_AUTH=disabled): the
   * middleware then sets it without looking at the headers or awaiting anything.
   */
  readonly constant?: Principal;
}

/** With MAESTRO_AUTH=disabled every request acts as the local admin (contract 00). */
export const disabledAuthenticator: Authenticator = {
  constant: LOCAL_ADMIN,
  fromHeaders: async () => LOCAL_ADMIN,
  fromUpgrade: async () => LOCAL_ADMIN,
  refresh: async (p) => p,
};

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * The real authenticator over the key ring and the identity store. With a `cache`
 * (principal-cache.ts), `fromHeaders` and `cached` resolve a known credential from it and cache what
 * they read from Redis; WebSocket upgrades and `refresh` always read Redis.
 */
export function createAuthenticator(identity: IdentityStore, ring: () => Promise<KeyRing>, cache?: PrincipalCache): Authenticator {
  const uncached = createAuthenticatorWithoutCache(identity, ring);
  if (!cache) return uncached;
  const keyPrincipal = async (key: string): Promise<Principal> => {
    const stamp = cache.stamp();
    const r = await identity.resolveApiKey(key);
    if (!r) throw new UnauthorizedError('Invalid or revoked API key');
    cache.putApiKey(key, r, stamp);
    return r.principal;
  };
  const tokenPrincipal = async (token: string): Promise<Principal> => {
    let sub = cache.tokenSubject(token);
    if (sub === undefined) {
      try {
        const payload = await verifyAccessToken(await ring(), token);
        sub = payload.sub;
        cache.putToken(token, sub, payload.exp);
      } catch {
        throw new UnauthorizedError('Invalid or expired access token');
      }
    }
    const hit = cache.user(sub);
    if (hit) return hit;
    const stamp = cache.stamp();
    const p = await identity.principalOf(sub);
    if (!p) throw new UnauthorizedError('Invalid or expired access token');
    cache.putUser(p, stamp);
    return p;
  };
  return {
    fromHeaders: async (headers) => {
      const key = headers['x-api-key'];
      if (typeof key === 'string' && key) return cache.apiKey(key) ?? keyPrincipal(key);
      const auth = headers.authorization;
      if (!auth) return undefined;
      const m = BEARER.exec(auth);
      if (!m) throw new UnauthorizedError('Unsupported Authorization scheme');
      return tokenPrincipal(m[1]!);
    },
    cached: (headers) => {
      const key = headers['x-api-key'];
      if (typeof key === 'string' && key) return cache.apiKey(key);
      const m = headers.authorization ? BEARER.exec(headers.authorization) : null;
      const sub = m ? cache.tokenSubject(m[1]!) : undefined;
      return sub === undefined ? undefined : cache.user(sub);
    },
    fromUpgrade: uncached.fromUpgrade,
    refresh: uncached.refresh,
  };
}

/** The authenticator without a cache: every credential is read from Redis (and a token verified). */
function createAuthenticatorWithoutCache(identity: IdentityStore, ring: () => Promise<KeyRing>): Authenticator {
  const fromHeaders = async (headers: IncomingMessage['headers']): Promise<Principal | undefined> => {
    const auth = headers.authorization;
    const key = headers['x-api-key'];
    if (typeof key === 'string' && key) {
      const p = await identity.authenticateKey(key);
      if (!p) throw new UnauthorizedError('Invalid or revoked API key');
      return p;
    }
    if (auth) {
      const m = BEARER.exec(auth);
      if (!m) throw new UnauthorizedError('Unsupported Authorization scheme');
      let sub: string;
      try {
        sub = (await verifyAccessToken(await ring(), m[1]!)).sub;
      } catch {
        throw new UnauthorizedError('Invalid or expired access token');
      }
      const p = await identity.principalOf(sub);
      if (!p) throw new UnauthorizedError('Invalid or expired access token');
      return p;
    }
    return undefined;
  };
  return {
    fromHeaders,
    fromUpgrade: async (req) => {
      const ticket = new URL(req.url ?? '/', 'http://x').searchParams.get('ticket');
      if (ticket) return identity.redeemTicket(ticket);
      return fromHeaders(req.headers);
    },
    refresh: (p) => identity.refreshPrincipal(p),
  };
}

/**
 * Sets `req.principal` from the request's credential; a missing credential on a path not in
 * `openPaths` or a bad one anywhere → 401 UNAUTHORIZED (contract 00 "Identity and access").
 * `openPaths` (relative to `/api`, literal) are the route table's `open` routes (app.ts): register,
 * login, refresh, the OpenAPI document — the same set the document marks `security: []`.
 */
export function authenticate(auth: Authenticator, openPaths: ReadonlySet<string>): RequestHandler {
  const constant = auth.constant;
  if (constant) {
    return (req, _res, next) => {
      req.principal = constant;
      next();
    };
  }
  return (req, _res, next) => {
    // a cached credential is decided here, without a promise
    const hit = auth.cached?.(req.headers);
    if (hit) {
      req.principal = hit;
      return next();
    }
    return resolveThenNext(auth, openPaths, req, next);
  };
}

/** The part of `authenticate` that reads the credential (a rejection reaches Express's error handler). */
async function resolveThenNext(auth: Authenticator, openPaths: ReadonlySet<string>, req: Request, next: NextFunction): Promise<void> {
  const p = await auth.fromHeaders(req.headers);
  if (p) req.principal = p;
  else if (!openPaths.has(req.path)) throw new UnauthorizedError('Authentication required: send Authorization: Bearer <token> or X-API-Key');
  next();
}
