import { writeCredentialsFile } from '../shared/auth/credentials-file.js';
import { SingleBar, Presets } from 'cli-progress';
import { CliError } from './api-client.js';
import { expandHome, loadConfig, type Config } from '../shared/config.js';
import { createRedis, type RedisClient } from '../shared/redis-connection.js';
import { createStores } from '../shared/stores/index.js';
import { restoreBackup, type Progress } from '../shared/backup/backup.js';
import { createBackupFile, listBackups, openBackup, pruneBackups } from '../shared/backup/backup-files.js';
import { importDataDir, type MigrationReport } from '../shared/migration/data-dir-import.js';

/**
 * Operator commands that talk to Redis directly (not through the API): `maestro backup create|list|
 * restore` and `maestro migrate`. They read REDIS_URL and MAESTRO_REDIS_PREFIX like the server
 * (contract 06 / README "Configuration"); `--redis` and `--prefix` override them.
 */
export interface AdminOptions {
  redis?: string;
  prefix?: string;
  /** Show a progress bar on stderr (only when stderr is a TTY). */
  progress?: boolean;
}

function configFor(o: AdminOptions): Config {
  return loadConfig({ ...process.env, ...(o.redis ? { REDIS_URL: o.redis } : {}), ...(o.prefix !== undefined ? { MAESTRO_REDIS_PREFIX: o.prefix } : {}) });
}

/** A progress callback drawing a bar on stderr when it is a TTY and `enabled`; `stop` ends the bar. */
function progressBar(label: string, enabled: boolean): { onProgress?: Progress; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { stop: () => undefined };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`, stream: process.stderr }, Presets.shades_classic);
  let started = false;
  return {
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/**
 * Runs `fn` with the command's config, a Redis connection (closed afterwards; commands time out after
 * 60 s) and a progress callback (a bar labelled `label` on a TTY unless `--no-progress`).
 */
async function run<T>(o: AdminOptions, label: string, fn: (redis: RedisClient, config: Config, onProgress?: Progress) => Promise<T>): Promise<T> {
  const config = configFor(o);
  const bar = progressBar(label, o.progress ?? true);
  const redis = createRedis(config.REDIS_URL, { name: 'maestro-cli-admin', commandTimeoutMs: 60_000 });
  redis.on('error', () => undefined);
  try {
    return await fn(redis, config, bar.onProgress);
  } finally {
    bar.stop();
    await redis.quit().catch(() => redis.disconnect());
  }
}

/**
 * `maestro backup create`: writes a backup file into `dir` (default BACKUP_DIR), then, with `keep`,
 * deletes all but the newest `keep`. Returns `{file, bytes, keys, slots, retries, pruned: [names]}`.
 */
export function backupCreate(o: AdminOptions & { dir?: string; keep?: number }) {
  return run(o, 'backup', async (redis, config, onProgress) => {
    const dir = o.dir ? expandHome(o.dir) : config.BACKUP_DIR;
    const f = await createBackupFile(redis, config.MAESTRO_REDIS_PREFIX, dir, onProgress);
    const pruned = o.keep ? await pruneBackups(dir, o.keep) : [];
    return { file: f.path, bytes: f.bytes, keys: f.summary.keys, slots: f.summary.slots, retries: f.summary.retries, pruned };
  });
}

/** `maestro backup list`: the backups of `dir` (default BACKUP_DIR), newest first (no Redis needed). */
export async function backupList(o: AdminOptions & { dir?: string }) {
  return listBackups(o.dir ? expandHome(o.dir) : configFor(o).BACKUP_DIR);
}

/**
 * `maestro backup restore <file>`: restores into the prefix, which must be empty (BackupError
 * otherwise, or for a truncated or foreign file). Returns `{file, prefix, keys, slots}`.
 */
export function backupRestore(file: string, o: AdminOptions) {
  return run(o, 'restore', async (redis, config, onProgress) => {
    const s = await restoreBackup(redis, config.MAESTRO_REDIS_PREFIX, openBackup(expandHome(file)), onProgress);
    return { file, prefix: config.MAESTRO_REDIS_PREFIX, keys: s.keys, slots: s.slots };
  });
}

/** `maestro migrate --from <DATA_DIR>`: imports an original server's store; returns the report. */
export function migrate(from: string, o: AdminOptions): Promise<MigrationReport> {
  return run(o, 'migrate', (redis, config, onProgress) => importDataDir(createStores(redis, config), expandHome(from), onProgress));
}

/** The human summary of a migration report. */
export function migrationText(r: MigrationReport): string {
  const lines = [
    `Imported from ${r.from}: ${Object.entries(r.imported)
      .map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`)
      .join(', ')}`,
  ];
  if (r.notes.length) lines.push(`Changed on the way (${r.notes.length}):`, ...r.notes.map((e) => `  ${e.kind} ${e.id}: ${e.reason}`));
  if (r.skipped.length) lines.push(`Skipped (${r.skipped.length}):`, ...r.skipped.map((e) => `  ${e.kind} ${e.id} (${e.file}): ${e.reason}`));
  return lines.join('\n');
}

/**
 * `maestro admin reset-key [--email admin@localhost]` against Redis (REDIS_URL, MAESTRO_REDIS_PREFIX):
 * mints a new API key for the user — the way back in when the first start could not write its
 * credentials file (a read-only home, as in the Helm chart; issue 14) or the key was lost. With
 * `write`, also writes `{apiUrl, apiKey, email}` there (mode 0600). Returns `{email, userId, apiKeyId,
 * apiKey}`; CliError `resource_not_found` (exit 2) for an unknown email.
 */
export function resetKey(o: AdminOptions & { email: string; name?: string; write?: string; apiUrl?: string }) {
  return run(o, 'reset-key', async (redis, config) => {
    const { identity } = createStores(redis, config);
    const userId = await identity.userIdByEmail(o.email);
    if (!userId) throw new CliError(`User not found: ${o.email}`, 404);
    const key = await identity.createApiKey(userId, { name: o.name ?? `reset-key ${new Date().toISOString()}` });
    if (o.write) {
      await writeCredentialsFile(expandHome(o.write), { apiUrl: o.apiUrl ?? config.SERVER_URL, apiKey: key.key, email: o.email.toLowerCase() });
    }
    return { email: o.email.toLowerCase(), userId, apiKeyId: key.id, apiKey: key.key, ...(o.write ? { file: expandHome(o.write) } : {}) };
  });
}
