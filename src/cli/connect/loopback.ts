import { isIPv4, isIPv6 } from 'node:net';

/**
 * What counts as "this machine" for `maestro connect` (contract 08, "Original clients on a secured
 * cluster": the proxy binds loopback only). The proxy adds the user's credential to everything it
 * forwards, so whoever can talk to it acts as that user: it listens on loopback, serves loopback peers
 * only, and answers only requests whose `Host` is a loopback name (a page of another site that
 * re-resolves its own name to 127.0.0.1, "DNS rebinding", sends its own name as `Host`).
 */

/** Strips `[`…`]` from an IPv6 literal and lower-cases. */
function bare(host: string): string {
  const h = host.trim().toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/**
 * True for an IP address of the loopback interface: IPv4 127.0.0.0/8, IPv6 `::1`, and IPv4-mapped
 * `::ffff:127.x.y.z` (what a dual-stack socket reports for an IPv4 peer). Anything else, including
 * `0.0.0.0`, `::` and undefined, is false.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = bare(address);
  const mapped = a.startsWith('::ffff:') ? a.slice(7) : a;
  if (isIPv4(mapped)) return mapped.split('.')[0] === '127';
  if (!isIPv6(a)) return false;
  // normalise (`0:0:0:0:0:0:0:1` → `::1`) through the URL parser
  return new URL(`http://[${a}]/`).hostname === '[::1]';
}

/**
 * True for a host name that names this machine: `localhost` and `*.localhost` (RFC 6761: resolved to
 * loopback by browsers and by the OS), or a loopback address literal (with or without brackets).
 */
export function isLoopbackHostname(hostname: string): boolean {
  const h = bare(hostname).replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || isLoopbackAddress(h);
}

/**
 * True when an HTTP `Host` header (`name[:port]`, `[v6][:port]`) names this machine; an absent header
 * (HTTP/1.0) counts as local, the socket check covering it.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined || host === '') return true;
  try {
    return isLoopbackHostname(new URL(`http://${host}/`).hostname);
  } catch {
    return false;
  }
}

/**
 * True for an `Origin` a local page has: `http(s)://` on a loopback name (any port; this covers the
 * desktop UI's `http(s)://tauri.localhost`), or `tauri://localhost` (the desktop UI on macOS/Linux).
 * `null` (sandboxed frames, any site can make one) is not local.
 */
export function isLocalOrigin(origin: string): boolean {
  if (origin === 'tauri://localhost') return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackHostname(u.hostname);
}
