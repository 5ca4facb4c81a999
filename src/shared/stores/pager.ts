import { ValidationError } from '../errors.js';
import type { RenderKind } from '../commit.js';
import { memberId } from '../keys.js';
import type { StoreContext } from './store-context.js';
import { readDocs, type DocKind } from './documents.js';

/** Page request: `limit` 1–1000 (contract 00 "Lists"), opaque `cursor` from a previous page. */
export interface PageRequest {
  limit: number;
  cursor?: string;
}

/** A page: entities as JSON texts in creation order, the total when known, the next cursor if any. */
export interface Page {
  items: string[];
  total?: number;
  nextCursor?: string;
}

/** An index to page over, with an optional filter on one stored field (raw JSON text comparison). */
export interface IndexSource {
  index: string;
  /** Entity key = entityPrefix + id. */
  entityPrefix: string;
  filter?: { field: string; op: 'eq' | 'ne'; raw: string };
}

/** Encodes an index member as an opaque cursor (base64url). */
export const encodeCursor = (member: string): string => Buffer.from(member, 'utf8').toString('base64url');

/** Decodes a cursor; a malformed one is a 400 VALIDATION_ERROR (contract 00). */
export function decodeCursor(cursor: string | undefined): string {
  if (!cursor) return '';
  const member = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{15}:.+$/.test(member)) {
    throw new ValidationError('Invalid cursor', [{ path: 'query.cursor', message: 'Invalid cursor' }]);
  }
  return member;
}

/** How many index entries one filtered page may read before it returns a shorter page + cursor. */
const SCAN_BUDGET = 2000;

function pageArgs(src: IndexSource, kind: RenderKind, cursor: string, limit: number, mode: 'json' | 'members') {
  return [
    1,
    src.index,
    kind,
    src.entityPrefix,
    cursor,
    limit,
    mode,
    src.filter?.field ?? '',
    src.filter?.op ?? 'eq',
    src.filter?.raw ?? '',
    SCAN_BUDGET,
  ] as const;
}

const DOC_KINDS = new Set<RenderKind>(['project', 'task', 'template']);

/**
 * One page of one index (one project): O(log n + page). Contract 00 "Lists": creation order,
 * `X-Total-Count` (total), next cursor. Unfiltered pages of stored documents are two commands —
 * ZRANGE BYLEX + ZCARD (one pipeline), then one MGET of the page's documents — and nothing is
 * assembled; filtered pages and session heads run page.lua.
 */
export async function pageIndex(ctx: StoreContext, src: IndexSource, kind: RenderKind, req: PageRequest): Promise<Page> {
  const cursor = decodeCursor(req.cursor);
  if (!src.filter && DOC_KINDS.has(kind)) {
    const res = await ctx.redis
      .pipeline()
      .zrange(src.index, cursor ? `(${cursor}` : '-', '+', 'BYLEX', 'LIMIT', 0, req.limit + 1)
      .zcard(src.index)
      .exec();
    for (const [err] of res ?? []) if (err) throw err;
    const members = (res?.[0]?.[1] as string[]) ?? [];
    const pageMembers = members.slice(0, req.limit);
    const docs = await readDocs(ctx, pageMembers.map((m) => src.entityPrefix + memberId(m)), kind as DocKind);
    const last = pageMembers[pageMembers.length - 1];
    return {
      items: docs.filter((d): d is string => d !== undefined),
      total: Number(res?.[1]?.[1] ?? 0),
      nextCursor: members.length > req.limit && last ? encodeCursor(last) : undefined,
    };
  }
  const out = await ctx.redis.maestroPage(...pageArgs(src, kind, cursor, req.limit, 'json'));
  const total = Number(out[0]);
  const next = String(out[1] ?? '');
  return {
    items: out.slice(2).map(String),
    total: total >= 0 ? total : undefined,
    nextCursor: next ? encodeCursor(next) : undefined,
  };
}

/**
 * One page merged across several indexes (one per project), in global creation order: each index
 * yields up to limit+1 members after the cursor (all calls in flight at once), the smallest `limit` are rendered.
 * Cost O(P·(log n + page)) for P indexes, independent of the number of entities.
 */
export async function pageMerged(
  ctx: StoreContext,
  sources: IndexSource[],
  kind: RenderKind,
  req: PageRequest,
): Promise<Page> {
  if (sources.length === 0) return { items: [], total: 0 };
  if (sources.length === 1) return pageIndex(ctx, sources[0]!, kind, req);
  const cursor = decodeCursor(req.cursor);
  // One call per index, all in flight at once (not a pipeline: in Redis Cluster the indexes live in
  // different slots, and a cluster pipeline must stay in one).
  const results = await Promise.all(
    sources.map((src) => ctx.redis.maestroPage(...pageArgs(src, kind, cursor, req.limit, 'members'))),
  );
  let total: number | undefined = 0;
  const candidates: { member: string; src: number }[] = [];
  let anyNext = false;
  // A filtered index may stop early (scan budget) with fewer than `limit` members: nothing after its
  // `next` has been seen, so this page must not go past it.
  let bound: string | undefined;
  results.forEach((out, i) => {
    const t = Number(out[0]);
    total = t >= 0 && total !== undefined ? total + t : undefined;
    const next = String(out[1] ?? '');
    const members = out.slice(2).map(String);
    if (next) {
      anyNext = true;
      if (members.length < req.limit && (bound === undefined || next < bound)) bound = next;
    }
    for (const m of members) candidates.push({ member: m, src: i });
  });
  candidates.sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  const eligible = bound === undefined ? candidates : candidates.filter((c) => c.member <= bound!);
  const chosen = eligible.slice(0, req.limit);
  const more = eligible.length > req.limit || anyNext;
  const bySource = new Map<number, string[]>();
  for (const c of chosen) {
    const ids = bySource.get(c.src) ?? [];
    ids.push(memberId(c.member));
    bySource.set(c.src, ids);
  }
  const rendered = new Map<string, string>();
  const groups = [...bySource];
  const renders = await Promise.all(
    groups.map(async ([srcIdx, ids]): Promise<(string | null | undefined)[]> => {
      const src = sources[srcIdx]!;
      if (DOC_KINDS.has(kind)) return readDocs(ctx, ids.map((id) => src.entityPrefix + id), kind as DocKind);
      return ctx.redis.maestroRenderMany(1, src.index, kind, src.entityPrefix, ...ids);
    }),
  );
  renders.forEach((jsons, g) => {
    const [srcIdx, ids] = groups[g]!;
    jsons.forEach((json, k) => {
      if (json) rendered.set(`${srcIdx}|${ids[k]}`, json);
    });
  });
  const items = chosen
    .map((c) => rendered.get(`${c.src}|${memberId(c.member)}`))
    .filter((x): x is string => x !== undefined);
  const last = chosen[chosen.length - 1]?.member ?? bound;
  return { items, total, nextCursor: more && last ? encodeCursor(last) : undefined };
}
