import { credentialsPath, readCredentialsFile } from '../../shared/auth/credentials-file.js';
import { savedKeyFor } from '../api-client.js';
import type { ClusterApi } from './cluster-api.js';
import type { ConnectLog } from './connect-log.js';
import { ConnectError } from './connect-options.js';
import { LoginCredential } from './login-credential.js';

/**
 * The user's credential as the proxy adds it to every request it forwards (contract 08, "Original
 * clients on a secured cluster"; contract 00 "Identity and access": `X-API-Key: <key>` or
 * `Authorization: Bearer <access token>`, on HTTP requests and WebSocket upgrades alike).
 */
export interface CredentialSource {
  /** `apiKey`: a key, sent as is; `login`: an access token the proxy obtained and keeps fresh. */
  readonly kind: 'apiKey' | 'login';
  /** Where it came from, for messages: e.g. "the API key from --api-key". */
  readonly describe: string;
  /** Logs in (login) or does nothing (key); throws ConnectError when the cluster refuses it. */
  start(): Promise<void>;
  /** The headers to add now (waits for a renewal in flight). */
  headers(): Promise<Record<string, string>>;
  /**
   * The cluster answered 401 to a request that carried `sent`. A login renews its token (one renewal
   * at a time, whoever asks) and resolves true once a new one is in place; a key cannot be renewed:
   * false. Either way a credential that is refused for good is logged (at most once per 10 s).
   */
  rejected(sent: Record<string, string>, what: string): Promise<boolean>;
  /** Stops timers (the process is ending). */
  stop(): void;
}

/** An API key (`X-API-Key`): nothing to renew; a 401 means it was revoked or never valid. */
export class ApiKeyCredential implements CredentialSource {
  readonly kind = 'apiKey' as const;
  constructor(
    private readonly key: string,
    readonly describe: string,
    private readonly log: ConnectLog,
  ) {}

  async start(): Promise<void> {}

  async headers(): Promise<Record<string, string>> {
    return { 'x-api-key': this.key };
  }

  async rejected(_sent: Record<string, string>, what: string): Promise<boolean> {
    this.log.error(
      `the cluster rejected ${this.describe} (${what}): it was revoked or is not valid here. Requests answer 401 until you restart maestro connect with a valid key (--api-key or MAESTRO_API_KEY).`,
      'credential-rejected',
    );
    return false;
  }

  stop(): void {}
}

/** The options and environment a credential is chosen from. */
export interface CredentialChoice {
  apiKey?: string;
  email?: string;
  password?: string;
}

/**
 * Picks the credential, first found wins: `--api-key`; `--email` (password from `--password` or
 * MAESTRO_PASSWORD) → a login; MAESTRO_API_KEY; MAESTRO_EMAIL + MAESTRO_PASSWORD → a login; the
 * `apiKey` of the credentials file (`~/.maestro/credentials` or MAESTRO_CREDENTIALS_FILE, contract 00:
 * written by a server's first start). None → ConnectError naming all of them.
 */
export function chooseCredential(o: CredentialChoice, env: NodeJS.ProcessEnv, api: ClusterApi, log: ConnectLog): CredentialSource {
  if (o.apiKey && o.email) throw new ConnectError('give either --api-key or --email, not both');
  if (o.apiKey) return new ApiKeyCredential(o.apiKey, 'the API key from --api-key', log);
  if (o.email) {
    const password = o.password ?? env.MAESTRO_PASSWORD;
    if (!password) throw new ConnectError(`--email ${o.email}: give the password in MAESTRO_PASSWORD (or --password)`);
    return new LoginCredential(api, o.email, password, `the login of ${o.email}`, log);
  }
  if (env.MAESTRO_API_KEY) return new ApiKeyCredential(env.MAESTRO_API_KEY, 'the API key from MAESTRO_API_KEY', log);
  if (env.MAESTRO_EMAIL) {
    if (!env.MAESTRO_PASSWORD) throw new ConnectError(`MAESTRO_EMAIL=${env.MAESTRO_EMAIL}: set MAESTRO_PASSWORD too`);
    return new LoginCredential(api, env.MAESTRO_EMAIL, env.MAESTRO_PASSWORD, `the login of ${env.MAESTRO_EMAIL}`, log);
  }
  const file = credentialsPath(env);
  const saved = readCredentialsFile(env);
  if (saved.apiKey) {
    const key = savedKeyFor(api.base.href, saved);
    if (!key) throw new ConnectError(`the API key in ${file} was written for ${saved.apiUrl}, not ${api.base.origin}: it is not sent elsewhere; pass --api-key <key> or set MAESTRO_API_KEY`);
    return new ApiKeyCredential(key, `the API key from ${file}`, log);
  }
  throw new ConnectError(
    `no credential: pass --api-key <key>, set MAESTRO_API_KEY, log in with --email <address> (password in MAESTRO_PASSWORD), or keep a key in ${file}`,
  );
}


