import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { decide, type Action } from '../../shared/access/policy.js';
import type { IdentityStore } from '../../shared/auth/identity-store.js';
import type { Config } from '../../shared/config.js';
import { ForbiddenError, UnauthorizedError } from '../../shared/errors.js';
import type { Principal } from '../../shared/principal.js';
import type { Authenticator } from './authenticate.js';

/** What `adminPageAccess` needs besides the authenticator. */
export interface AdminPageAccessOptions {
  /** The policy action the page needs (contract 00 "Identity and access": one policy decides). */
  action: Action;
  /** `WWW-Authenticate` realm shown by the browser's login prompt. */
  realm: string;
  /** Users and passwords (absent: only API keys and tokens are accepted). */
  identity?: IdentityStore;
  /**
   * Runs before an email + password is verified (the login limiter: attempts per IP, shared by the
   * replicas); a cached pair skips it. Called as a middleware; an error it passes on answers.
   */
  loginLimiter?: RequestHandler;
}

/** Verified Basic email + password pairs: sha256 of the header → user id and until when (ms). */
class VerifiedLogins {
  private readonly entries = new Map<string, { userId: string; until: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The user id of a pair verified less than ttlMs ago, else undefined. */
  get(digest: string): string | undefined {
    const e = this.entries.get(digest);
    if (!e) return undefined;
    if (e.until > Date.now()) return e.userId;
    this.entries.delete(digest);
    return undefined;
  }

  /** Remembers a verified pair (the oldest entry goes when full). */
  put(digest: string, userId: string): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(digest, { userId, until: Date.now() + this.ttlMs });
  }
}

/** `Authorization: Basic …` decoded to user and password, else undefined. */
function basicCredentials(req: Request): { user: string; password: string; digest: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1), digest: createHash('sha256').update(m[1]!).digest('hex') };
}

const runMiddleware = (mw: RequestHandler, req: Request, res: Parameters<RequestHandler>[1]) =>
  new Promise<void>((resolve, reject) => {
    const ret = mw(req, res, (err?: unknown) => (err ? reject(err) : resolve())) as unknown;
    if (ret instanceof Promise) ret.catch(reject);
  });

/**
 * Guard of a browser page for admins (the queue dashboard `/admin/queues`, issue 16). A browser cannot
 * add `X-API-Key` or a Bearer token to a page it navigates to, so besides those headers (scripts,
 * proxies) it takes HTTP Basic auth, which the browser prompts for and then sends with every request
 * of the page: the password is an API key (any user name), or the user name is an email (it holds
 * `@`) and the password that account's. A verified email + password is remembered for
 * ADMIN_LOGIN_CACHE_MS, at most ADMIN_LOGIN_CACHE_MAX_ENTRIES pairs (only a hash of the header is kept); an unverified one first passes
 * `loginLimiter` (RATE_LIMIT_AUTH_PER_MINUTE per IP, as `POST /auth/login`). The principal must be
 * allowed `action` by the access policy.
 * With MAESTRO_AUTH=disabled every request passes (the local admin, as on /api).
 * Errors: 401 UNAUTHORIZED with `WWW-Authenticate: Basic realm=…` without a valid credential, 403
 * FORBIDDEN with one the policy refuses (its message), 429 from the limiter.
 */
export function adminPageAccess(
  config: Pick<Config, 'MAESTRO_AUTH' | 'ADMIN_LOGIN_CACHE_MS' | 'ADMIN_LOGIN_CACHE_MAX_ENTRIES'>,
  auth: Authenticator,
  o: AdminPageAccessOptions,
): RequestHandler {
  if (config.MAESTRO_AUTH === 'disabled') return (_req, _res, next) => next();
  const logins = new VerifiedLogins(config.ADMIN_LOGIN_CACHE_MS, config.ADMIN_LOGIN_CACHE_MAX_ENTRIES);
  const challenge = `Basic realm="${o.realm}", charset="UTF-8"`;
  const principalOf = async (req: Request, res: Parameters<RequestHandler>[1]): Promise<Principal | undefined> => {
    const basic = basicCredentials(req);
    if (!basic) return auth.fromHeaders(req.headers);
    if (!basic.user.includes('@')) return auth.fromHeaders({ 'x-api-key': basic.password });
    if (!o.identity) throw new UnauthorizedError('Email and password are not accepted here: use an API key as the password');
    let userId = logins.get(basic.digest);
    if (!userId) {
      if (o.loginLimiter) await runMiddleware(o.loginLimiter, req, res);
      userId = (await o.identity.login(basic.user, basic.password)).id;
      logins.put(basic.digest, userId);
    }
    return o.identity.principalOf(userId);
  };
  return async (req, res, next) => {
    let p: Principal | undefined;
    try {
      p = await principalOf(req, res);
    } catch (err) {
      if (err instanceof UnauthorizedError) res.setHeader('WWW-Authenticate', challenge);
      throw err;
    }
    if (!p) {
      res.setHeader('WWW-Authenticate', challenge);
      throw new UnauthorizedError('Sign in as an admin: an API key as the password (any user name), or an admin email and password');
    }
    const verdict = decide(p, o.action);
    if (verdict.decision !== 'allow') throw new ForbiddenError(verdict.message ?? 'Not allowed');
    req.principal = p;
    next();
  };
}
