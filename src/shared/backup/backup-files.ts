import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { RedisClient } from '../redis-connection.js';
import { exportBackup, type BackupSummary, type Progress } from './backup.js';

/** Backup files are `maestro-backup-<ISO time, ':' and '.' as '-'>.jsonl.gz`: names sort by time. */
const NAME = /^maestro-backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z\.jsonl(\.gz)?$/;

/** A backup file in a backup directory. */
export interface BackupFile {
  name: string;
  path: string;
  /** Size on disk in bytes (gzip-compressed). */
  bytes: number;
  /** When the backup was taken (ms, from the file name). */
  createdAt: number;
}

/** The file name of a backup taken at `now` (ms). */
export function backupFileName(now = Date.now()): string {
  return `maestro-backup-${new Date(now).toISOString().replace(/[:.]/g, '-')}.jsonl.gz`;
}

function timeOf(name: string): number {
  const m = /^maestro-backup-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z/.exec(name);
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) : 0;
}

/**
 * Writes a gzip-compressed backup of `prefix` into `dir` (created 0700 if missing; the file is 0600:
 * it holds password hashes and signing keys). It is written as `<name>.partial` and renamed when
 * complete, so a crash never leaves a file that `listBackups` would show. Returns the file and counts.
 */
export async function createBackupFile(
  redis: RedisClient,
  prefix: string,
  dir: string,
  onProgress?: Progress,
  now = Date.now(),
): Promise<BackupFile & { summary: BackupSummary }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = backupFileName(now);
  const path = join(dir, name);
  const partial = `${path}.partial`;
  const gzip = createGzip();
  const file = createWriteStream(partial, { mode: 0o600 });
  const written = pipeline(gzip, file);
  try {
    const summary = await exportBackup(redis, prefix, gzip, onProgress);
    gzip.end();
    await written;
    await rename(partial, path);
    return { name, path, bytes: (await stat(path)).size, createdAt: now, summary };
  } catch (err) {
    gzip.destroy();
    await written.catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  }
}

/** Backups in `dir`, newest first ([] when the directory does not exist). */
export async function listBackups(dir: string): Promise<BackupFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = await Promise.all(
    names.filter((n) => NAME.test(n)).map(async (name) => ({ name, path: join(dir, name), bytes: (await stat(join(dir, name))).size, createdAt: timeOf(name) })),
  );
  return files.sort((a, b) => (a.name < b.name ? 1 : -1));
}

/** Deletes all but the newest `keep` backups of `dir`; returns the names deleted (BACKUP_KEEP). */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  const old = (await listBackups(dir)).slice(Math.max(0, keep));
  for (const f of old) await rm(f.path, { force: true });
  return old.map((f) => f.name);
}

/** A readable stream of a backup's JSON Lines (gunzipped when the name ends in `.gz`). */
export function openBackup(path: string): Readable {
  const raw = createReadStream(path);
  if (!path.endsWith('.gz')) return raw;
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}
