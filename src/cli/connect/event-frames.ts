/**
 * Reading the frames the cluster sends on a WebSocket, as much as the relay needs and no more
 * (contract 03 "Server → client envelope", contract 00 "Events"):
 *
 * - an **event** `{"type","event","data","timestamp","id","projectId"}` — its `type`, `id` (the
 *   project stream's id, `<ms>-<seq>`) and `projectId` (null for events outside projects);
 * - a **control** message `{"type": "pong" | "subscribed" | "resync_required" | "error", …}`.
 *
 * An event can be large (a whole session for clients without deltas), so the head and tail are read
 * where the server writes them (src/api/ws/event-envelope.ts: `type` first, `id` and `projectId`
 * last) without parsing `data`; anything else up to 64 KiB is parsed whole, and a frame that is
 * neither is passed on untouched.
 */
export type FrameHead =
  | { kind: 'event'; type: string; id: string; projectId: string | null }
  | { kind: 'control'; type: string; timestamp?: number }
  | { kind: 'other' };

const HEAD = /^\{"type":("(?:[^"\\]|\\.)*")/;
const TAIL = /,"id":"(\d{1,15}-\d{1,19})","projectId":(null|"(?:[^"\\]|\\.)*")\}$/;
/** Bytes of each end looked at for the fast path (ids and project ids are far shorter). */
const END_BYTES = 1024;
/** Frames up to this size are parsed whole when the fast path does not apply. */
const PARSE_MAX = 64 * 1024;

/** The head of one text frame (UTF-8 bytes as received). */
export function readFrameHead(frame: Buffer): FrameHead {
  const head = HEAD.exec(frame.subarray(0, END_BYTES).toString('utf8'));
  const tail = TAIL.exec(frame.subarray(Math.max(0, frame.length - END_BYTES)).toString('utf8'));
  if (head && tail) {
    try {
      return { kind: 'event', type: JSON.parse(head[1]!) as string, id: tail[1]!, projectId: JSON.parse(tail[2]!) as string | null };
    } catch {
      /* fall through to the whole parse */
    }
  }
  if (frame.length > PARSE_MAX) return { kind: 'other' };
  let m: unknown;
  try {
    m = JSON.parse(frame.toString('utf8'));
  } catch {
    return { kind: 'other' };
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) return { kind: 'other' };
  const o = m as Record<string, unknown>;
  if (typeof o.type !== 'string') return { kind: 'other' };
  if (typeof o.event === 'string' && typeof o.id === 'string') {
    return { kind: 'event', type: o.type, id: o.id, projectId: typeof o.projectId === 'string' ? o.projectId : null };
  }
  return { kind: 'control', type: o.type, ...(typeof o.timestamp === 'number' ? { timestamp: o.timestamp } : {}) };
}
