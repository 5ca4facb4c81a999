/**
 * What a client of the proxy tells the cluster on its WebSocket, as far as the relay must remember it
 * across an upstream reconnect (contract 00 "Events", contract 03 "Client → server"; the server's
 * schema is src/api/ws/client-messages.ts, mirrored here so that the relay changes its view exactly
 * when the server would):
 *
 * - `{"type":"ping"}` → the server answers `{"type":"pong","timestamp"}`;
 * - `{"type":"subscribe","projectIds"?: string[] | null,"deltas"?: boolean}` narrows the projects
 *   (absent/null = every readable one) and chooses deltas;
 * - `{"type":"resume","since": id | {projectId: id}}` asks for a replay.
 *
 * Anything else (non-JSON, other shapes) is forwarded and otherwise ignored, as the server ignores it.
 */
export type ClientFrame =
  | { type: 'ping' }
  | { type: 'subscribe'; projectIds?: string[] | null; deltas?: boolean }
  | { type: 'resume'; since: string | Record<string, string> }
  | { type: 'other' };

const OTHER: ClientFrame = { type: 'other' };

/** The server's bounds (client-messages.ts): ≤ 1,000 project ids of ≤ 256 chars, positions ≤ 64 chars. */
const isIds = (v: unknown): v is string[] => Array.isArray(v) && v.length <= 1000 && v.every((x) => typeof x === 'string' && x.length <= 256);
const isPosition = (v: unknown): v is string | Record<string, string> =>
  typeof v === 'string'
    ? v.length <= 64
    : !!v && typeof v === 'object' && !Array.isArray(v) && Object.entries(v).every(([k, x]) => k.length <= 256 && typeof x === 'string' && x.length <= 64);

/** Reads one text frame of a client. */
export function readClientFrame(text: string): ClientFrame {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return OTHER;
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return OTHER;
  const o = m as Record<string, unknown>;
  if (o.type === 'ping') return { type: 'ping' };
  if (o.type === 'subscribe') {
    if (o.projectIds !== undefined && o.projectIds !== null && !isIds(o.projectIds)) return OTHER;
    if (o.deltas !== undefined && typeof o.deltas !== 'boolean') return OTHER;
    return { type: 'subscribe', projectIds: o.projectIds as string[] | null | undefined, deltas: o.deltas as boolean | undefined };
  }
  if (o.type === 'resume' && isPosition(o.since)) return { type: 'resume', since: o.since };
  return OTHER;
}
