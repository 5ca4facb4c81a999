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

/** The key of an entity's stored document: `<entity key>:doc` (render-lib.lua `docKey`). */
export const docKey = (entityKey: string): string => `${entityKey}:doc`;

/** The `version` at the end of a stored document (`…,"version":N}`). */
export const versionOf = (doc: string): number => Number(/"version":(\d+)}$/.exec(doc)?.[1] ?? 0);

/** Entity kinds whose stored document is served as it is (a session's needs its live fields added). */
export type DocKind = 'project' | 'task' | 'template';

/**
 * An entity's stored document (render-lib.lua: the string `<key>:doc`, kept current by every commit)
 * and its version: one GET, nothing assembled (contract 00 "Lists": reads don't render). For a session
 * (`session-doc`) the same pipeline reads its live fields (`lastActivity`, `version`: kept out of the
 * stored document because every append changes them) and adds them. Data written before documents
 * existed is rendered by the script instead. Undefined when the entity does not exist.
 */
export async function readDoc(ctx: StoreContext, key: string, kind: DocKind | 'session-doc'): Promise<Rendered | undefined> {
  if (kind !== 'session-doc') {
    const doc = await ctx.redis.get(docKey(key));
    if (doc) return { json: doc, version: versionOf(doc) };
    return renderFallback(ctx, key, kind);
  }
  const res = await ctx.redis.pipeline().get(docKey(key)).hmget(key, 'lastActivity', 'version').exec();
  for (const [err] of res ?? []) if (err) throw err;
  const doc = res?.[0]?.[1] as string | null;
  const live = res?.[1]?.[1] as (string | null)[];
  if (!doc) return renderFallback(ctx, key, 'session-doc');
  return withLive(doc, live);
}

/** A stored session document with its live fields (`[lastActivity, version]` as stored) added. */
function withLive(doc: string, [lastActivity, version]: (string | null)[]): Rendered {
  const tail = `${lastActivity !== null && lastActivity !== undefined ? `,"lastActivity":${lastActivity}` : ''}${version !== null && version !== undefined ? `,"version":${version}` : ''}`;
  return { json: withTail(doc, tail), version: Number(version ?? 0) };
}

/** Renders an entity without a stored document from its fields (old data), or undefined when absent. */
export async function renderFallback(ctx: StoreContext, key: string, kind: RenderKind): Promise<Rendered | undefined> {
  const r = await ctx.redis.maestroRender(1, key, kind);
  return r ? { json: r[0], version: Number(r[1]) } : undefined;
}

/**
 * The stored documents of `keys` (entities of one hash slot), in order: one MGET; those without a
 * document (old data) rendered one by one; an entity that is gone → undefined.
 */
export async function readDocs(ctx: StoreContext, keys: string[], kind: DocKind): Promise<(string | undefined)[]> {
  if (keys.length === 0) return [];
  const docs = await ctx.redis.mget(...keys.map(docKey));
  return Promise.all(docs.map(async (d, i) => d ?? (await renderFallback(ctx, keys[i]!, kind))?.json));
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
    .get(docKey(key))
    .hmget(key, 'lastActivity', 'version')
    .llen(k.sessionEvents(pid, id))
    .llen(k.sessionTimeline(pid, id))
    .lrange(k.sessionEvents(pid, id), -tail, -1)
    .lrange(k.sessionTimeline(pid, id), -tail, -1)
    .exec();
  if (!res) return undefined;
  for (const [err] of res) if (err) throw err;
  const doc = res[0]![1] as string | null;
  const base = doc ? withLive(doc, res[1]![1] as (string | null)[]) : await renderFallback(ctx, key, 'session-doc');
  if (!base) return undefined;
  const events = res[4]![1] as string[];
  const timeline = res[5]![1] as string[];
  return {
    json: withTail(base.json, `,"events":[${events.join(',')}],"timeline":[${timeline.join(',')}],"eventCount":${res[2]![1]},"timelineCount":${res[3]![1]}`),
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
