import type { RenderKind } from '../commit.js';
import type { StoreContext } from './store-context.js';

/** A rendered entity: its JSON text (sent as is) and its version (for `ETag`). */
export interface Rendered {
  json: string;
  version: number;
}

/** Entries of a session's events or timeline read per Redis call when a whole list is needed. */
export const LIST_CHUNK = 1000;
/** Entries of each list that `GET /api/v1/sessions/:id` carries (contract 00 "Events"). */
export const SESSION_TAIL = 100;

/**
 * An entity's stored document (render-lib.lua: `_doc`, kept current by every commit) and version:
 * one HMGET, nothing assembled (contract 00 "Lists": reads don't render). Data written before
 * documents existed is rendered by the script instead. Undefined when the entity does not exist.
 */
export async function readDoc(ctx: StoreContext, key: string, kind: Exclude<RenderKind, 'session' | 'session-head' | 'doc'>): Promise<Rendered | undefined> {
  const [doc, version] = await ctx.redis.hmget(key, '_doc', 'version');
  if (doc) return { json: doc, version: Number(version ?? 0) };
  if (version === null) return undefined;
  const r = await ctx.redis.maestroRender(1, key, kind === 'session-doc' ? 'session-doc' : kind);
  return r ? { json: r[0], version: Number(r[1]) } : undefined;
}

/** `doc` with `tail` (`,"a":…`) inserted before its closing brace. */
export function withTail(doc: string, tail: string): string {
  return `${doc.slice(0, -1)}${tail}}`;
}

/**
 * A session as `GET /api/v1/sessions/:id` answers it (contract 00 "Events"): its document, the last
 * `SESSION_TAIL` entries of `events` and `timeline`, and `eventCount`/`timelineCount` — one pipeline
 * of five O(1)/O(tail) commands on the session's slot, whatever the length of its lists.
 */
export async function sessionView(ctx: StoreContext, pid: string, id: string, tail = SESSION_TAIL): Promise<Rendered | undefined> {
  const k = ctx.keys;
  const key = k.session(pid, id);
  const res = await ctx.redis
    .pipeline()
    .hmget(key, '_doc', 'version')
    .llen(k.sessionEvents(pid, id))
    .llen(k.sessionTimeline(pid, id))
    .lrange(k.sessionEvents(pid, id), -tail, -1)
    .lrange(k.sessionTimeline(pid, id), -tail, -1)
    .exec();
  if (!res) return undefined;
  for (const [err] of res) if (err) throw err;
  const [doc, version] = res[0]![1] as [string | null, string | null];
  const base = doc ? { json: doc, version: Number(version ?? 0) } : await readDoc(ctx, key, 'session-doc');
  if (!base) return undefined;
  const events = res[3]![1] as string[];
  const timeline = res[4]![1] as string[];
  return {
    json: withTail(base.json, `,"events":[${events.join(',')}],"timeline":[${timeline.join(',')}],"eventCount":${res[1]![1]},"timelineCount":${res[2]![1]}`),
    version: base.version,
  };
}

/** Every entry of a list, read `LIST_CHUNK` at a time (no Redis call works on more than a page). */
export async function readWholeList(ctx: StoreContext, key: string): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; ; start += LIST_CHUNK) {
    const chunk = await ctx.redis.lrange(key, start, start + LIST_CHUNK - 1);
    out.push(...chunk);
    if (chunk.length < LIST_CHUNK) return out;
  }
}

/**
 * A whole session, lists included, as the original answers it (`/api/sessions/:id`, legacy
 * `session:updated`; contract 00 "Events"): the document plus `events` and `timeline` read in chunks
 * of `LIST_CHUNK`. Costs O(its length) in total, never more than a chunk per Redis call. A session
 * that is deleted meanwhile → undefined; one appended to meanwhile may show the new entries.
 */
export async function sessionWhole(ctx: StoreContext, pid: string, id: string): Promise<Rendered | undefined> {
  const k = ctx.keys;
  const base = await readDoc(ctx, k.session(pid, id), 'session-doc');
  if (!base) return undefined;
  const [events, timeline] = await Promise.all([readWholeList(ctx, k.sessionEvents(pid, id)), readWholeList(ctx, k.sessionTimeline(pid, id))]);
  return { json: withTail(base.json, `,"events":[${events.join(',')}],"timeline":[${timeline.join(',')}]`), version: base.version };
}

/** The `id` and `projectId` at the head of a stored session document (`{"id":…,"projectId":…,`). */
export function sessionIdsOf(doc: string): { id: string; projectId: string } | undefined {
  const m = /^\{"id":("(?:[^"\\]|\\.)*"),"projectId":("(?:[^"\\]|\\.)*")/.exec(doc);
  return m ? { id: JSON.parse(m[1]!) as string, projectId: JSON.parse(m[2]!) as string } : undefined;
}
