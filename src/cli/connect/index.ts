import type { Command } from 'commander';
import { onShutdownSignal, type ShutdownLogger } from '../../shared/process-lifecycle.js';
import { ClusterApi, ClusterError, type WhoAmI } from './cluster-api.js';
import { createConnectLog, type ConnectLog } from './connect-log.js';
import { checkNotItself, ConnectError, parseAllowedOrigins, parseBindHost, parsePort, parseServerUrl } from './connect-options.js';
import { chooseCredential, type CredentialSource } from './credential.js';
import { startProxy, type RunningProxy } from './proxy-server.js';

/**
 * `maestro connect <server-url>` (issue 14; contract 08, "Original clients on a secured cluster"): a
 * local proxy on 127.0.0.1 (port 3000 unless `--port`) that forwards HTTP and WebSocket traffic to the
 * cluster with the user's own credential, so the original desktop UI and CLI, pointed at
 * http://localhost:3000 as they are today, work against a cluster with `MAESTRO_AUTH=required` with
 * that user's rights and nothing more.
 *
 * Start-up: the options are checked (connect-options.ts), the credential chosen and, for a login,
 * logged in (credential.ts), then verified with `GET /api/v1/auth/me`; a refused credential, an
 * unreachable cluster, a host that is not loopback or a busy port end the process with exit code 1 and
 * one line on stderr saying what to change. Then it listens and prints who it acts as, the cluster and
 * the local URL. SIGINT/SIGTERM stop it (WebSocket clients get 1001).
 */

/** The options commander hands over. */
interface ConnectFlags {
  port: string;
  host: string;
  apiKey?: string;
  email?: string;
  password?: string;
  allowOrigin: string[];
  verbose?: boolean;
}

/** Adds `connect` to the program. */
export function registerConnect(program: Command): void {
  program
    .command('connect <server-url>')
    .description('run a local proxy to a secured cluster for the original UI and CLI (adds your credential; loopback only)')
    .option('--port <port>', 'local port (0 = any free one)', '3000')
    .option('--host <address>', 'local address: 127.0.0.1, ::1 or localhost only', '127.0.0.1')
    .option('--api-key <key>', 'API key to act with (else MAESTRO_API_KEY, a login, or ~/.maestro/credentials)')
    .option('--email <address>', 'log in as this user instead (password from MAESTRO_PASSWORD or --password)')
    .option('--password <password>', 'password for --email (prefer MAESTRO_PASSWORD: arguments are visible to other users)')
    .option('--allow-origin <origin>', 'also serve pages of this origin (repeatable); local pages are always served', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--verbose', 'log every forwarded request')
    .action(async (serverUrl: string, flags: ConnectFlags) => {
      const log = createConnectLog(Boolean(flags.verbose));
      try {
        const proxy = await runConnect(serverUrl, flags, process.env, log);
        // one stop (clients get 1001), a second Ctrl-C or STOP_TIMEOUT_MS forces exit 1
        onShutdownSignal(shutdownLog(log), STOP_TIMEOUT_MS, () => proxy.close());
      } catch (err) {
        const message = err instanceof ConnectError ? err.message : `unexpected failure: ${(err as Error).message}`;
        process.stderr.write(`maestro connect: ${message}\n`);
        process.exit(1);
      }
    });
}

/** How long a stop of the proxy may take before the process exits anyway, ms. */
const STOP_TIMEOUT_MS = 10_000;

/** The connect log as onShutdownSignal's logger: its message, with the error's when there is one. */
const shutdownLog = (log: ConnectLog): ShutdownLogger => {
  const line = (fields: unknown, message?: unknown) => {
    const err = (fields as { err?: unknown } | undefined)?.err;
    return `${String(message ?? '')}${err instanceof Error ? `: ${err.message}` : ''}`;
  };
  type Log = (fields: unknown, message?: unknown) => void;
  const info: Log = (f, m) => log.info(line(f, m));
  const warn: Log = (f, m) => log.warn(line(f, m));
  const error: Log = (f, m) => log.error(line(f, m));
  return { info, warn, error } as unknown as ShutdownLogger;
};

/** How the credential's holder is described in the banner. */
function who(me: WhoAmI, credential: CredentialSource): string {
  const scope = [
    me.admin ? 'admin' : undefined,
    me.projectId ? `project ${me.projectId} only` : undefined,
    me.sessionId ? `session ${me.sessionId}` : undefined,
    me.readOnly ? 'read-only' : undefined,
  ].filter(Boolean);
  return `${me.email}${scope.length ? ` (${scope.join(', ')})` : ''} with ${credential.describe}`;
}

/** Everything but the process handling: checks, credential, verification, listening, banner. */
export async function runConnect(serverUrl: string, flags: ConnectFlags, env: NodeJS.ProcessEnv, log: ConnectLog): Promise<RunningProxy> {
  const upstream = parseServerUrl(serverUrl);
  const host = parseBindHost(flags.host);
  const port = parsePort(flags.port);
  const allowOrigins = parseAllowedOrigins(flags.allowOrigin);
  checkNotItself(upstream, port);
  const api = new ClusterApi(upstream);
  const credential = chooseCredential({ apiKey: flags.apiKey, email: flags.email, password: flags.password }, env, api, log);

  let me: WhoAmI;
  let clockOffsetMs: number;
  try {
    await credential.start();
    ({ me, clockOffsetMs } = await api.whoAmI(await credential.headers()));
  } catch (err) {
    credential.stop();
    if (err instanceof ConnectError) throw err;
    if (err instanceof ClusterError) {
      if (err.status === 401) throw new ConnectError(`the cluster at ${upstream.origin} rejected ${credential.describe}: ${err.message}. Check the key (or create one: POST /api/v1/api-keys), or log in with --email`);
      if (err.status === 403) throw new ConnectError(`the cluster at ${upstream.origin} does not authenticate (${err.message}): connect to it directly, no proxy is needed`);
      if (err.status === 404) throw new ConnectError(`${upstream.href} does not look like a Maestro cluster (GET /api/v1/auth/me answered 404)`);
      throw new ConnectError(`the cluster at ${upstream.origin} answered ${err.status} (${err.message})`);
    }
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new ConnectError(`cannot reach the cluster at ${upstream.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }

  const proxy = await startProxy({ upstream, credential, api, log, clockOffsetMs, allowOrigins }, host, port).catch((err: unknown) => {
    credential.stop();
    throw err;
  });
  const a = proxy.address;
  const local = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  log.info(`maestro connect: acting as ${who(me, credential)} on ${upstream.href}`);
  const pointAt = a.address === '127.0.0.1' ? `http://localhost:${a.port}` : `http://${local}`;
  log.info(`maestro connect: listening on http://${local} and ws://${local} (loopback only); point the Maestro UI and CLI at ${pointAt}`);
  return proxy;
}
