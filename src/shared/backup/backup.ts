import { Cluster } from 'ioredis';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis-connection.js';
import { withScripts } from '../redis-scripts.js';
import { docKey } from '../stores/documents.js';
import { entityKind } from '../commit.js';

/**
 * Logical backups of one key prefix (issue 6 "Backups"). A backup is JSON Lines:
 *
 *   {"kind":"header","format":"maestro-backup","version":1,"createdAt":ms,"prefix":"maestro:","keys":n}
 *   {"kind":"slot","slot":"{proj_…}","revision":"42","keys":n}      one per project, the templates, and "global"
 *   {"kind":"key","k":"{proj_…}:task:task_…","t":"hash","v":{…},"ttl":ms?}   n lines follow each slot line
 *   {"kind":"end","slots":s,"keys":n}
 *
 * `k` is the key without the prefix, so a backup restores under any prefix. Values by type `t`: hash →
 * object, zset → [[member, score]…], list and set → [string…], string → string, stream →
 * {"entries":[[id,[field,value…]]…],"lastId","entriesAdded","maxDeletedId"} (the stream's position
 * survives a restore, so clients resume with `since` across it). `ttl` is the remaining PTTL in ms.
 *
 * Consistency: every key of a project shares its hash tag, and every change of a project goes through
 * commit.lua, which INCRs the project's `rev` counter and keeps its key registry (`keys`, a set of
 * key names). A project's keys are read between two reads of that counter; if it moved, the project
 * is read again, and a project that changes on every attempt is copied in one atomic step (COPY,
 * Redis ≥ 6.2) and read from the copy — so each project's part is a snapshot of one moment, whatever
 * the write load. Global keys (project index, id lookups, users, API keys) are read as they are.
 * The registry and snapshot copies are not backed up; restore rebuilds the registry.
 *
 * Not in a backup (by design): BullMQ jobs (`{bullmq}`), rate-limit counters (`rl:`), idempotency
 * records (`idem:`), WebSocket tickets and the replica registry (`ws-ticket:`, `ws:`), spawns in
 * flight (`spawn-slots:`) and each user's WebSocket counts (`{u:<id>}:ws-sockets`).
 */
export const BACKUP_FORMAT = 'maestro-backup';
/** Version of the backup format this code writes and restores (a restore refuses any other). */
export const BACKUP_VERSION = 1;
const EXCLUDED = ['{bullmq}', 'rl:', 'idem:', 'ws-ticket:', 'ws:', 'spawn-slots:', 'spawn-retry:', 'ready:'];
/** Optimistic reads of a slot before falling back to a copy made in one atomic step. */
const OPTIMISTIC_ATTEMPTS = 3;
/** TTL of snapshot copies (ms): a backup that dies leaves nothing behind for longer. */
const SNAPSHOT_TTL_MS = 3_600_000;
const BATCH = 256;

/** Value of one key in a backup line (see module doc for the shape per type). */
export type KeyValue = Record<string, string> | [string, number][] | string[] | string | StreamValue;
/** A stream with its position (XINFO STREAM: last-generated-id, entries-added, max-deleted-entry-id). */
export interface StreamValue {
  entries: [string, string[]][];
  lastId: string;
  entriesAdded?: number;
  maxDeletedId?: string;
}
/** One key of a backup. */
export interface KeyRecord {
  kind: 'key';
  k: string;
  t: 'hash' | 'zset' | 'list' | 'set' | 'string' | 'stream';
  v: KeyValue;
  ttl?: number;
}

/** Progress callback: `done` of `total` keys written (total known after the first scan). */
export type Progress = (done: number, total: number) => void;

/** Counts of a finished export or restore. */
export interface BackupSummary {
  slots: number;
  keys: number;
  /** Optimistic re-reads of projects that changed while being read. */
  retries: number;
  /** Projects that kept changing and were read from an atomic copy instead. */
  snapshots: number;
}

/** Thrown when a backup file is not a complete Maestro backup or the target prefix is not empty. */
export class BackupError extends Error {
  override name = 'BackupError';
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** Whether a key (without prefix) belongs in a backup. */
export function isBackedUp(rel: string): boolean {
  return !EXCLUDED.some((x) => rel.startsWith(x)) && !/^\{[^}]*\}:(keys$|snap:|idem:)/.test(rel) && !/^\{u:[^}]*\}:ws-sockets$/.test(rel);
}

/** Hash-tag group of a key without prefix: `{…}` for tagged keys, else `global`. */
function slotOf(rel: string): string {
  if (!rel.startsWith('{')) return 'global';
  const end = rel.indexOf('}');
  return end > 0 ? rel.slice(0, end + 1) : 'global';
}

/** Every key under `match` (SCAN on each master of a Cluster), as full key names. */
export async function scanKeys(redis: RedisClient, match: string): Promise<string[]> {
  if (redis instanceof Cluster && redis.status !== 'ready') {
    // the masters are known only once the client has read the slot map
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Redis Cluster not ready')), 30_000);
      redis.once('ready', () => (clearTimeout(timer), resolve()));
    });
  }
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** The keys of a prefix that a backup holds, grouped by hash tag (`global` for untagged keys). */
async function keysBySlot(redis: RedisClient, prefix: string): Promise<Map<string, string[]>> {
  const groups = new Map<string, string[]>();
  for (const key of await scanKeys(redis, `${globEscape(prefix)}*`)) {
    const rel = key.slice(prefix.length);
    if (!isBackedUp(rel)) continue;
    const slot = slotOf(rel);
    let g = groups.get(slot);
    if (!g) groups.set(slot, (g = []));
    g.push(key);
  }
  return groups;
}

function pairs<T>(flat: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Builds a record from a key's type, PTTL and raw contents (as read-keys.lua returns them). */
function toRecord(rel: string, type: string, pttl: number, raw: string[]): KeyRecord | undefined {
  let t: KeyRecord['t'];
  let v: KeyValue;
  switch (type) {
    case 'hash':
      t = 'hash';
      v = Object.fromEntries(pairs(raw));
      break;
    case 'zset':
      t = 'zset';
      v = pairs(raw).map(([m, sc]) => [m, Number(sc)] as [string, number]);
      break;
    case 'list':
      t = 'list';
      v = raw;
      break;
    case 'set':
      t = 'set';
      v = [...raw].sort();
      break;
    case 'string':
      t = 'string';
      v = raw[0] ?? '';
      break;
    default:
      return undefined; // 'none': deleted since it was listed
  }
  const rec: KeyRecord = { kind: 'key', k: rel, t, v };
  if (pttl > 0) rec.ttl = pttl;
  return rec;
}

/** A stream's entries and position (XRANGE + XINFO STREAM). */
async function readStream(redis: RedisClient, key: string): Promise<StreamValue> {
  const [entries, info] = await Promise.all([redis.xrange(key, '-', '+'), redis.xinfo('STREAM', key) as Promise<unknown[]>]);
  const m = new Map(pairs(info).map(([f, x]) => [String(f), x]));
  return {
    entries: entries as [string, string[]][],
    lastId: String(m.get('last-generated-id')),
    ...(m.has('entries-added') ? { entriesAdded: Number(m.get('entries-added')) } : {}),
    ...(m.has('max-deleted-entry-id') ? { maxDeletedId: String(m.get('max-deleted-entry-id')) } : {}),
  };
}

/**
 * Reads keys into records (sorted by name) with read-keys.lua. `sameSlot`: every key shares a hash
 * slot, so a batch of BATCH keys is one call; else (global keys on a Cluster, one slot each) one call
 * per key, all in flight at once. `names[i]` is the name recorded for `keys[i]` (a snapshot copy is
 * recorded under its original's name); `ttls` overrides TTLs (ms).
 */
async function readKeys(
  redis: RedisClient,
  keys: string[],
  prefix: string,
  sameSlot: boolean,
  names: string[] = keys,
  ttls?: number[],
): Promise<KeyRecord[]> {
  const scripted = withScripts(redis);
  const out: KeyRecord[] = [];
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    const raws =
      sameSlot || !(redis instanceof Cluster)
        ? await scripted.maestroReadKeys(batch.length, ...batch)
        : (await Promise.all(batch.map((k) => scripted.maestroReadKeys(1, k)))).map((r) => r[0]!);
    for (let j = 0; j < batch.length; j++) {
      const [type, pttl0, raw] = raws[j]!;
      const pttl = ttls ? ttls[i + j]! : Number(pttl0);
      const rel = names[i + j]!.slice(prefix.length);
      if (type === 'stream') {
        const rec: KeyRecord = { kind: 'key', k: rel, t: 'stream', v: await readStream(redis, batch[j]!) };
        if (pttl > 0) rec.ttl = pttl;
        out.push(rec);
      } else {
        const rec = toRecord(rel, type, pttl, raw);
        if (rec) out.push(rec);
      }
    }
  }
  return out.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
}

/**
 * Reads one project (or the templates) as of one moment. First optimistically: revision, key list
 * (registry ∪ `scanned`), contents, revision again — done if it did not move. A slot that changes on
 * every attempt (a busy project) is copied in one atomic step (snapshot.lua: COPY of each key, which
 * briefly blocks Redis for the size of the project) and read from the copy, which is then deleted.
 */
async function readSlot(
  redis: RedisClient,
  prefix: string,
  slot: string,
  scanned: string[],
  attempts: number,
): Promise<{ revision: string | null; records: KeyRecord[]; retries: number; snapshot: boolean }> {
  const revKey = `${prefix}${slot}:rev`;
  const regKey = `${prefix}${slot}:keys`;
  const inSlot = (k: string) => isBackedUp(k.slice(prefix.length));
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const revision = await redis.get(revKey);
    const list = [...new Set([...(await redis.smembers(regKey)), ...scanned])].filter(inSlot);
    const records = await readKeys(redis, list, prefix, true);
    if ((await redis.get(revKey)) === revision) return { revision, records, retries: attempt - 1, snapshot: false };
  }
  const snap = `${prefix}${slot}:snap:${randomUUID()}:`;
  const extra = scanned.filter(inSlot);
  const res = await withScripts(redis).maestroSnapshot(2 + extra.length, regKey, revKey, ...extra, snap, String(SNAPSHOT_TTL_MS));
  const names: string[] = [];
  const ttls: number[] = [];
  for (let i = 1; i + 1 < res.length; i += 2) {
    if (!inSlot(String(res[i]))) continue;
    names.push(String(res[i]));
    ttls.push(Number(res[i + 1]));
  }
  const copies = names.map((n) => snap + n);
  try {
    const records = await readKeys(redis, copies, prefix, true, names, ttls);
    return { revision: res[0] === null ? null : String(res[0]), records, retries: attempts, snapshot: true };
  } finally {
    for (let i = 0; i < copies.length; i += BATCH) await redis.unlink(...copies.slice(i, i + BATCH));
  }
}

/** Writes one line and waits for the stream to drain when its buffer is full (back-pressure). */
async function writeLine(out: Writable, value: unknown): Promise<void> {
  await writeChunk(out, JSON.stringify(value) + '\n');
}

/** Writes text and waits for the stream to drain when its buffer is full (back-pressure). */
async function writeChunk(out: Writable, text: string): Promise<void> {
  if (text && !out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

/**
 * Streams a logical export of every key of `prefix` that a backup holds into `out` (JSON Lines, see the
 * module doc); does not end `out`. Each project's part is a consistent snapshot (see readSlot:
 * optimistic reads, then an atomic copy for a project that keeps changing; `opts.optimisticAttempts`
 * defaults to 3, 0 forces the copy). Throws Redis errors as they come.
 */
export async function exportBackup(
  redis: RedisClient,
  prefix: string,
  out: Writable,
  onProgress?: Progress,
  opts: { optimisticAttempts?: number } = {},
): Promise<BackupSummary> {
  const groups = await keysBySlot(redis, prefix);
  const total = [...groups.values()].reduce((n, g) => n + g.length, 0);
  await writeLine(out, { kind: 'header', format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt: Date.now(), prefix, keys: total });
  let done = 0;
  let keys = 0;
  let retries = 0;
  let snapshots = 0;
  const slots = [...groups.keys()].sort((a, b) => (a === 'global' ? 1 : b === 'global' ? -1 : a < b ? -1 : 1));
  for (const slot of slots) {
    let records: KeyRecord[];
    let revision: string | null = null;
    if (slot === 'global') {
      records = await readKeys(redis, groups.get(slot)!, prefix, false);
    } else {
      const r = await readSlot(redis, prefix, slot, groups.get(slot)!, opts.optimisticAttempts ?? OPTIMISTIC_ATTEMPTS);
      ({ records, revision } = r);
      retries += r.retries;
      if (r.snapshot) snapshots++;
    }
    // one write per ~64 KiB of lines: fewer stream round trips than a write per key
    let buf = JSON.stringify({ kind: 'slot', slot, revision, keys: records.length }) + '\n';
    for (const r of records) {
      buf += JSON.stringify(r) + '\n';
      if (buf.length >= 65_536) {
        await writeChunk(out, buf);
        buf = '';
      }
    }
    await writeChunk(out, buf);
    keys += records.length;
    done += groups.get(slot)!.length;
    onProgress?.(done, total);
  }
  await writeLine(out, { kind: 'end', slots: slots.length, keys });
  return { slots: slots.length, keys, retries, snapshots };
}

/** Writes one restored key (in chunks of BATCH items for big values). */
async function writeKey(redis: RedisClient, key: string, r: KeyRecord): Promise<void> {
  const chunks = <T>(xs: T[]): T[][] => Array.from({ length: Math.ceil(xs.length / BATCH) }, (_, i) => xs.slice(i * BATCH, (i + 1) * BATCH));
  switch (r.t) {
    case 'hash':
      for (const c of chunks(Object.entries(r.v as Record<string, string>))) await redis.hset(key, Object.fromEntries(c));
      break;
    case 'zset':
      for (const c of chunks(r.v as [string, number][])) await redis.zadd(key, ...c.flatMap(([m, s]) => [s, m]));
      break;
    case 'list':
      for (const c of chunks(r.v as string[])) await redis.rpush(key, ...c);
      break;
    case 'set':
      for (const c of chunks(r.v as string[])) await redis.sadd(key, ...c);
      break;
    case 'string':
      await redis.set(key, r.v as string);
      break;
    case 'stream': {
      const s = r.v as StreamValue;
      if (s.entries.length === 0) {
        // An empty stream must exist to carry its position: add a placeholder entry and delete it.
        const id = await redis.xadd(key, '0-1', 'placeholder', '1');
        await redis.xdel(key, id!);
      }
      for (const c of chunks(s.entries)) await Promise.all(c.map(([id, fields]) => redis.xadd(key, id, ...fields)));
      if (s.entriesAdded !== undefined && s.maxDeletedId !== undefined) {
        await redis.call('XSETID', key, s.lastId, 'ENTRIESADDED', String(s.entriesAdded), 'MAXDELETEDID', s.maxDeletedId);
      } else {
        await redis.call('XSETID', key, s.lastId);
      }
      break;
    }
  }
  if (r.ttl && r.ttl > 0) await redis.pexpire(key, r.ttl);
}

/**
 * Restores a backup (JSON Lines from `input`) under `prefix`, which must hold no key a backup would
 * (BackupError otherwise: restore never merges into live data). Checks the header's format and
 * version and that the file ends with its `end` line with matching counts (BackupError for a truncated
 * or foreign file; keys written before the error stay and the prefix is then no longer empty).
 */
export async function restoreBackup(redis: RedisClient, prefix: string, input: Readable, onProgress?: Progress): Promise<BackupSummary> {
  const existing = (await scanKeys(redis, `${globEscape(prefix)}*`)).filter((k) => isBackedUp(k.slice(prefix.length)));
  if (existing.length) throw new BackupError(`prefix '${prefix}' is not empty (${existing.length} keys, e.g. ${existing[0]}); restore only into an empty prefix`);
  const lines = createInterface({ input, crlfDelay: Infinity });
  const scripted = withScripts(redis);
  let header: { format?: string; version?: number; keys?: number } | undefined;
  let slots = 0;
  let keys = 0;
  let ended: { slots: number; keys: number } | undefined;
  let pending: Promise<void>[] = [];
  // the key registry of each project slot (commit.lua keeps it live; backups leave it out)
  let slotName = 'global';
  let slotKeys: string[] = [];
  const flushRegistry = async () => {
    await Promise.all(pending);
    pending = [];
    // only slots written by commit.lua keep a registry (they have its `rev` counter): projects, templates
    const registry = slotKeys.includes(`${prefix}${slotName}:rev`) ? `${prefix}${slotName}:keys` : undefined;
    if (registry) {
      for (let i = 0; i < slotKeys.length; i += BATCH) await redis.sadd(registry, ...slotKeys.slice(i, i + BATCH));
    }
    // A backup taken before entities kept their documents (issue 12): build them now, as a commit would.
    const restored = new Set(slotKeys);
    for (const key of slotKeys) {
      const kind = entityKind(key);
      if (kind && !restored.has(docKey(key))) await (registry ? scripted.maestroDocRebuild(2, key, registry, kind) : scripted.maestroDocRebuild(1, key, kind));
    }
    slotKeys = [];
  };
  for await (const line of lines) {
    if (!line.trim()) continue;
    let rec: { kind?: string } & Record<string, unknown>;
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      throw new BackupError(`line ${slots + keys + 2} is not JSON`);
    }
    if (!header) {
      if (rec.kind !== 'header' || rec.format !== BACKUP_FORMAT) throw new BackupError('not a Maestro backup (no header line)');
      if (rec.version !== BACKUP_VERSION) throw new BackupError(`backup version ${String(rec.version)} is not supported (expected ${BACKUP_VERSION})`);
      header = rec as unknown as { keys?: number };
      continue;
    }
    if (ended) throw new BackupError('data after the end line');
    if (rec.kind === 'slot') {
      await flushRegistry();
      slotName = String(rec.slot);
      slots++;
    } else if (rec.kind === 'key') {
      const r = rec as unknown as KeyRecord;
      pending.push(writeKey(redis, prefix + r.k, r));
      slotKeys.push(prefix + r.k);
      keys++;
      if (pending.length >= 64) {
        await Promise.all(pending);
        pending = [];
        onProgress?.(keys, header!.keys ?? keys);
      }
    } else if (rec.kind === 'end') ended = rec as unknown as { slots: number; keys: number };
    else throw new BackupError(`unknown line kind '${String(rec.kind)}'`);
  }
  await Promise.all(pending);
  await flushRegistry();
  if (!header) throw new BackupError('empty backup');
  if (!ended) throw new BackupError(`backup is truncated (no end line after ${keys} keys)`);
  if (ended.keys !== keys || ended.slots !== slots) throw new BackupError(`backup is inconsistent: end line says ${ended.keys} keys in ${ended.slots} slots, read ${keys} in ${slots}`);
  onProgress?.(keys, keys);
  return { slots, keys, retries: 0, snapshots: 0 };
}
