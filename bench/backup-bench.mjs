// `npm run bench -- backup`: how long a logical backup and a restore take, and how big the file is,
// for a prefix holding BENCH_BACKUP_TASKS tasks (100,000) in one project plus sessions with timelines.
// The data is loaded through the stores (the same atomic steps the API takes), not through HTTP.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { machine, root, startRedis, writeSection } from './lib.mjs';

const TASKS = Number(process.env.BENCH_BACKUP_TASKS ?? 100_000);
const SESSIONS = Number(process.env.BENCH_BACKUP_SESSIONS ?? 1_000);

export async function runBackupBench() {
  const { createStores } = await import(join(root, 'dist/shared/stores/index.js'));
  const { loadConfig } = await import(join(root, 'dist/shared/config.js'));
  const { LOCAL_ADMIN } = await import(join(root, 'dist/shared/principal.js'));
  const { createBackupFile, openBackup } = await import(join(root, 'dist/shared/backup/backup-files.js'));
  const { restoreBackup } = await import(join(root, 'dist/shared/backup/backup.js'));
  const redisServer = await startRedis();
  const redis = new Redis(redisServer.url);
  try {
    const config = loadConfig({ REDIS_URL: redisServer.url, MAESTRO_REDIS_PREFIX: 'bk:', MAESTRO_AUTH: 'disabled', HOST: '127.0.0.1' });
    const stores = createStores(redis, config);
    const actor = LOCAL_ADMIN;
    const project = JSON.parse((await stores.projects.create(actor, { name: 'backup bench' })).json);
    let t0 = Date.now();
    const taskIds = [];
    for (let i = 0; i < TASKS; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, TASKS - i) }, (_, j) => stores.tasks.create(actor, { projectId: project.id, title: `task ${i + j}`, description: 'x'.repeat(100) })),
      );
      for (const r of batch) taskIds.push(JSON.parse(r.json).id);
    }
    for (let i = 0; i < SESSIONS; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, SESSIONS - i) }, async (_, j) => {
          const s = JSON.parse((await stores.sessions.create(actor, { projectId: project.id, taskIds: [taskIds[(i + j) % taskIds.length]], name: `s${i + j}` })).json);
          for (let k = 0; k < 5; k++) await stores.sessions.addTimeline(actor, s.id, { message: `step ${k}` });
        }),
      );
    }
    const loadS = (Date.now() - t0) / 1000;
    const info = await redis.info('memory');
    const usedMiB = Number(/used_memory:(\d+)/.exec(info)[1]) / 2 ** 20;

    const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-backup-'));
    t0 = Date.now();
    const f = await createBackupFile(redis, 'bk:', dir);
    const backupS = (Date.now() - t0) / 1000;
    t0 = Date.now();
    const r = await restoreBackup(redis, 'bk2:', openBackup(f.path));
    const restoreS = (Date.now() - t0) / 1000;
    const same = (await redis.zcard(`bk2:{${project.id}}:tasks`)) === TASKS;

    const row = `| ${TASKS} | ${SESSIONS} | ${f.summary.keys} | ${usedMiB.toFixed(0)} | ${(f.bytes / 2 ** 20).toFixed(1)} | ${backupS.toFixed(1)} | ${Math.round(f.summary.keys / backupS)} | ${restoreS.toFixed(1)} | ${Math.round(r.keys / restoreS)} | ${same ? 'yes' : 'NO'} |`;
    console.log(row);
    writeSection(
      'Backup and restore (`npm run bench -- backup`)',
      `Run ${new Date().toISOString()} on ${machine()}; the bench process and Redis share the machine.
Command: \`BENCH_BACKUP_TASKS=${TASKS} BENCH_BACKUP_SESSIONS=${SESSIONS} npm run bench -- backup\` — one project with the tasks (100-byte descriptions) and sessions with 5 timeline entries each, loaded through the stores in ${loadS.toFixed(0)} s; \`createBackupFile\` (gzip JSON Lines) to a local disk, then \`restoreBackup\` into an empty prefix of the same Redis.

| tasks | sessions | keys | Redis used (MiB) | file (MiB, gzip) | backup (s) | keys/s | restore (s) | keys/s | index complete after restore |
|---|---|---|---|---|---|---|---|---|---|
${row}

The export holds one project's records in memory while it checks that the project did not change (its
\`rev\` counter), so the bench process's peak memory grows with the largest project, not with the prefix.`,
    );
  } finally {
    redis.disconnect();
    redisServer.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runBackupBench();
