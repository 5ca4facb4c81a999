import { isLoopbackAddress, isLoopbackHostname } from './loopback.js';

/**
 * A start-up failure of `maestro connect`: printed as `maestro connect: <message>` on stderr, then the
 * process exits 1. Every message names the option or setting to change.
 */
export class ConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

/**
 * The cluster URL as given: `http://` or `https://` only; a trailing slash (or several) is stripped, a
 * path is kept as the base every request is forwarded under. A URL with a user or password, a query
 * or a fragment is refused (a credential belongs in `--api-key` or the credentials file).
 */
export function parseServerUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ConnectError(`<server-url> must be an http(s) URL like https://maestro.example.com (got '${raw}')`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConnectError(`<server-url> must start with http:// or https:// (got '${u.protocol}')`);
  if (u.username || u.password) throw new ConnectError('<server-url> must not carry a user or password: give the key with --api-key or MAESTRO_API_KEY');
  if (u.search || u.hash) throw new ConnectError('<server-url> must not have a query or fragment');
  u.pathname = u.pathname.replace(/\/+$/, '');
  return u;
}

/**
 * The `--host` to listen on: a loopback address (127.0.0.0/8, ::1) or `localhost`. Anything else
 * (0.0.0.0, ::, a LAN address, another name) is refused: the proxy adds the user's credential to
 * every request, so anyone who could reach it would act as that user (contract 08, "Original clients").
 */
export function parseBindHost(raw: string): string {
  const h = raw.trim();
  if (h.toLowerCase() !== 'localhost' && !isLoopbackAddress(h)) {
    throw new ConnectError(
      `--host ${raw}: maestro connect listens on loopback only (127.0.0.1, ::1 or localhost). It adds your credential to every request, so anyone who can reach it acts as you.`,
    );
  }
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** `--port`: an integer 0–65535. */
export function parsePort(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) throw new ConnectError(`--port must be an integer 0–65535 (got '${raw}')`);
  return n;
}

/**
 * `--allow-origin` values (repeatable, or comma-separated): exact origins such as
 * `https://ui.example.com`, compared as the browser sends them (no trailing slash). `*` is refused.
 */
export function parseAllowedOrigins(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((s) => s.split(','))) {
    const o = v.trim().replace(/\/+$/, '');
    if (!o) continue;
    if (o === '*') throw new ConnectError('--allow-origin *: every web page could act as you through the proxy; name the origins instead');
    out.push(o);
  }
  return out;
}

/**
 * Refuses an upstream that is this very proxy (same loopback host and port): every request would
 * loop through it until the sockets run out.
 */
export function checkNotItself(upstream: URL, port: number): void {
  const upPort = Number(upstream.port || (upstream.protocol === 'https:' ? 443 : 80));
  if (port !== 0 && upPort === port && isLoopbackHostname(upstream.hostname)) {
    throw new ConnectError(`<server-url> ${upstream.origin} is this proxy's own address (--port ${port}): point it at the cluster, or pick another --port`);
  }
}
