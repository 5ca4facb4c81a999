import { PassThrough } from 'node:stream';
import { exportBackup } from '../../src/shared/backup/backup.js';
import type { RedisClient } from '../../src/shared/redis-connection.js';

/**
 * A backup of `prefix` as parsed JSON Lines, with the header's time and prefix blanked so that two
 * exports (or an export before and after a restore, under any prefix) compare equal.
 */
export async function backupLines(redis: RedisClient, prefix: string, optimisticAttempts?: number): Promise<Record<string, unknown>[]> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await exportBackup(redis, prefix, out, undefined, { optimisticAttempts });
  out.end();
  return Buffer.concat(chunks)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map((r) => (r.kind === 'header' ? { ...r, createdAt: 0, prefix: '' } : r));
}
