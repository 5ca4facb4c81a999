import { ClusterError, type ClusterApi, type Tokens } from './cluster-api.js';
import type { ConnectLog } from './connect-log.js';
import { ConnectError } from './connect-options.js';
import type { CredentialSource } from './credential.js';

/**
 * When to renew an access token of `expiresIn` seconds: a quarter of its life before it ends, at most
 * 60 s before, at least 1 s after it was issued; ms from now.
 */
export function renewAfterMs(expiresIn: number): number {
  const life = Math.max(1, expiresIn) * 1000;
  return Math.max(1000, life - Math.min(60_000, life / 4));
}

/** How long to wait before trying again after the cluster could not be reached for a renewal, ms. */
const RETRY_MS = 2000;

/**
 * A login the proxy performs itself (`POST /api/v1/auth/login`) and keeps fresh: the access token
 * lives in memory only and is sent as `Authorization: Bearer`; it is renewed with the refresh token
 * (`POST /api/v1/auth/refresh`, which rotates it) before it expires (`renewAfterMs`) and whenever the
 * cluster answers 401, one renewal at a time. A refused refresh (revoked family, expired) falls back
 * to logging in again with the password; a refused login is logged and the 401s pass on to the clients.
 * Rules: contract 00 "Identity and access" (short-lived JWTs, rotating refresh tokens).
 */
export class LoginCredential implements CredentialSource {
  readonly kind = 'login' as const;
  private access = '';
  private refreshToken = '';
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<boolean>;
  private stopped = false;
  /** The last renewal ended with the login itself refused (not with the cluster unreachable). */
  private refused = false;

  constructor(
    private readonly api: ClusterApi,
    private readonly email: string,
    private readonly password: string,
    readonly describe: string,
    private readonly log: ConnectLog,
  ) {}

  async start(): Promise<void> {
    try {
      this.take(await this.api.login(this.email, this.password));
    } catch (err) {
      if (err instanceof ClusterError && err.status === 401) throw new ConnectError(`the cluster refused ${this.describe}: ${err.message}`);
      throw err;
    }
  }

  async headers(): Promise<Record<string, string>> {
    if (this.renewing) await this.renewing;
    return { authorization: `Bearer ${this.access}` };
  }

  async rejected(sent: Record<string, string>, what: string): Promise<boolean> {
    // A request that left with an older token than the current one just needs the new one.
    if (sent.authorization !== `Bearer ${this.access}`) return true;
    const ok = await this.renew();
    if (!ok && this.refused) {
      this.log.error(`the cluster rejected ${this.describe} (${what}) and it could not be renewed; requests answer 401 until maestro connect is restarted`, 'credential-rejected');
    }
    return ok;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Renews now, or joins the renewal in flight; true once a fresh token is in place. */
  private renew(): Promise<boolean> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<boolean> {
    try {
      this.take(await this.api.refresh(this.refreshToken));
      this.log.debug(`renewed the access token of ${this.email}`);
      return true;
    } catch (err) {
      if (!(err instanceof ClusterError && err.status === 401)) return this.later(err);
    }
    // The refresh token was refused (expired, revoked, or its family revoked): log in again.
    try {
      this.take(await this.api.login(this.email, this.password));
      this.log.info(`logged in again as ${this.email} (the refresh token was refused)`);
      return true;
    } catch (err) {
      if (err instanceof ClusterError && err.status === 401) {
        this.refused = true;
        return false;
      }
      return this.later(err);
    }
  }

  /** The cluster could not be reached or failed: keep the token, try again shortly. */
  private later(err: unknown): boolean {
    this.log.warn(`could not renew the access token of ${this.email}: ${(err as Error).message}; trying again in ${RETRY_MS / 1000} s`, 'renew-failed');
    this.schedule(RETRY_MS);
    return false;
  }

  private take(t: Tokens): void {
    this.refused = false;
    this.access = t.accessToken;
    this.refreshToken = t.refreshToken;
    this.schedule(renewAfterMs(t.expiresIn));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), ms);
    this.timer.unref();
  }
}
