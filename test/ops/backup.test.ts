import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { BackupError, exportBackup, isBackedUp, restoreBackup, scanKeys } from '../../src/shared/backup/backup.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { useHarness } from '../helpers/use-harness.js';
import { backupLines } from '../helpers/backup-lines.js';
import { connect } from '../helpers/ws-client.js';

const h = useHarness({ SPAWN_WAIT_MS: '20000' });
let worker: ApiProcess;

/** Runs the built CLI (see runCli). */
const maestro = (args: string[], env: Record<string, string> = {}) => runCli(args, { REDIS_URL: h.testRedis.url, ...env });

/** What the API serves for everything in the data set (JSON texts compared as parsed values). */
async function served(api: Harness | typeof h, ids: { projects: string[]; tasks: string[]; sessions: string[] }) {
  const get = async (p: string) => {
    const r = await api.req('GET', p);
    return { status: r.status, body: r.body };
  };
  return {
    projects: await get('/api/projects'),
    templates: await get('/api/templates'),
    perProject: await Promise.all(
      ids.projects.map(async (p) => ({ project: await get(`/api/projects/${p}`), tasks: await get(`/api/tasks?projectId=${p}`), sessions: await get(`/api/sessions?projectId=${p}`) })),
    ),
    tasks: await Promise.all(ids.tasks.map((t) => get(`/api/tasks/${t}`))),
    children: await Promise.all(ids.tasks.map((t) => get(`/api/tasks/${t}/children`))),
    sessions: await Promise.all(ids.sessions.map((s) => get(`/api/sessions/${s}`))),
    queues: await Promise.all(ids.sessions.map((s) => get(`/api/sessions/${s}/queue`))),
  };
}

const ids = { projects: [] as string[], tasks: [] as string[], sessions: [] as string[] };

beforeAll(async () => {
  worker = await startWorkerProcess(h.testRedis.url, h.prefix, {
    SERVER_URL: h.base,
    SESSION_DIR: h.config.SESSION_DIR,
    DATA_DIR: h.config.DATA_DIR,
    MANIFEST_GENERATOR: 'server',
    METRICS_PORT: '0',
  });
  // A data set with every kind of thing a backup holds: projects, a task tree, sessions with events
  // and timeline, a spawned queue session (queue + manifest), an edited and a custom template.
  for (const name of ['alpha', 'beta']) {
    const p = (await h.req('POST', '/api/projects', { name, workingDir: `/w/${name}` })).body;
    ids.projects.push(p.id);
    const root = (await h.req('POST', '/api/tasks', { projectId: p.id, title: `${name} root`, priority: 'high' })).body;
    const child = (await h.req('POST', '/api/tasks', { projectId: p.id, title: `${name} child`, parentId: root.id })).body;
    await h.req('PATCH', `/api/tasks/${child.id}`, { status: 'in_progress' });
    ids.tasks.push(root.id, child.id);
    const s = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [root.id], name: `${name} session` })).body;
    await h.req('POST', `/api/sessions/${s.id}/events`, { type: 'file_modified', data: { file: 'a.ts' } });
    await h.req('POST', `/api/sessions/${s.id}/timeline`, { message: 'halfway' });
    await h.req('PATCH', `/api/sessions/${s.id}`, { status: 'completed' });
    ids.sessions.push(s.id);
    const sp = await h.req('POST', '/api/sessions/spawn', { projectId: p.id, taskIds: [root.id, child.id], strategy: 'queue' });
    expect(sp.status).toBe(201);
    ids.sessions.push(sp.body.sessionId);
  }
  const tpl = (await h.req('GET', '/api/templates')).body as { id: string; role: string }[];
  await h.req('PUT', `/api/templates/${tpl[0]!.id}`, { content: 'edited default' });
  await h.req('POST', '/api/templates', { name: 'custom', role: 'worker', content: 'custom content' });
}, 60_000);
afterAll(async () => {
  await worker?.kill('SIGTERM');
});

describe('maestro backup (issue 6)', () => {
  it('backup → wipe the prefix → restore: every entity, link, queue, template and stream position identical, through the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-backups-'));
    const before = await served(h, ids);
    const linesBefore = await backupLines(h.redis, h.prefix);
    const streamsBefore = await Promise.all(ids.projects.map((p) => h.redis.xinfo('STREAM', `${h.prefix}{${p}}:events`)));
    const eventsBefore = await Promise.all(ids.projects.map((p) => h.events(p)));

    const created = await maestro(['backup', 'create', '--dir', dir, '--prefix', h.prefix, '--json']);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const c = JSON.parse(created.stdout).data as { file: string; bytes: number; keys: number };
    expect(c.keys).toBeGreaterThan(30);
    expect(statSync(c.file).mode & 0o777).toBe(0o600);
    const listed = JSON.parse((await maestro(['backup', 'list', '--dir', dir, '--json'])).stdout).data as { path: string; bytes: number }[];
    expect(listed.map((f) => f.path)).toEqual([c.file]);
    expect(listed[0]!.bytes).toBe(c.bytes);

    // wipe every key of the prefix (this Redis is the test's own)
    const all = await scanKeys(h.redis, `${h.prefix}*`);
    const kept = all.filter((k) => k.startsWith(`${h.prefix}{bullmq}`) || k.startsWith(`${h.prefix}ws:`) || k.startsWith(`${h.prefix}rl:`));
    for (const k of all) if (!kept.includes(k)) await h.redis.del(k);
    expect((await h.req('GET', `/api/projects/${ids.projects[0]}`)).status).toBe(404);

    const restored = await maestro(['backup', 'restore', c.file, '--prefix', h.prefix, '--json']);
    expect(restored.stderr).toBe('');
    expect(JSON.parse(restored.stdout).data).toMatchObject({ keys: c.keys, prefix: h.prefix });

    expect(await backupLines(h.redis, h.prefix)).toEqual(linesBefore);
    expect(await served(h, ids)).toEqual(before);
    for (let i = 0; i < ids.projects.length; i++) {
      expect(await h.redis.xinfo('STREAM', `${h.prefix}{${ids.projects[i]}}:events`)).toEqual(streamsBefore[i]);
      expect(await h.events(ids.projects[i]!)).toEqual(eventsBefore[i]);
    }
    // The stream continues where it was: a client resuming with `since` gets exactly the new event
    // (with deltas: a client without them is also sent the sessions touched just before its position).
    const pid = ids.projects[0]!;
    const lastId = eventsBefore[0]!.at(-1)!.id;
    const ws = await connect(`${h.base.replace('http', 'ws')}/?deltas=1&since=${encodeURIComponent(lastId)}`);
    await new Promise((r) => setTimeout(r, 200));
    const t = (await h.req('POST', '/api/tasks', { projectId: pid, title: 'after restore' })).body;
    // (a plain `since` also replays the later events of other projects: contract 00; keep this one's)
    const mine = () => ws.events().filter((e) => e.projectId === pid);
    await ws.until(() => mine().length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(mine().map((e) => [e.type, e.data.id])).toEqual([['task:created', t.id]]);
    expect(mine()[0].id > lastId).toBe(true);
    await ws.close();
    await h.req('DELETE', `/api/tasks/${t.id}`);
  }, 60_000);

  it('draws a progress bar on a terminal (run under `script`, which gives the CLI a TTY)', async (ctx) => {
    const { spawnSync } = await import('node:child_process');
    if (spawnSync('script', ['--version']).error) ctx.skip();
    const dir = mkdtempSync(join(tmpdir(), 'maestro-backups-'));
    const cmd = [process.execPath, CLI, 'backup', 'create', '--dir', dir, '--prefix', h.prefix].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, REDIS_URL: h.testRedis.url }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/backup \[[=\-\u2588\u2591 ]+\] 100% \| \d+\/\d+/);
    expect(r.stdout).toMatch(/Backup written: .*maestro-backup-.*\.jsonl\.gz/);
  });

  it('restores under another prefix; refuses a prefix that holds data, and a truncated or foreign file, changing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-backups-'));
    const c = JSON.parse((await maestro(['backup', 'create', '--dir', dir, '--prefix', h.prefix, '--json'])).stdout).data as { file: string };
    const other = await startHarness(h.testRedis.url);
    try {
      // `other` seeds its default templates (asynchronously, once Redis is ready): wait for both, so
      // the prefix is not empty → refused, nothing written
      for (let i = 0; i < 100 && (await other.req('GET', '/api/templates')).body.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      const dataKeys = async () => (await scanKeys(h.redis, `${other.prefix}*`)).filter((k) => isBackedUp(k.slice(other.prefix.length))).sort();
      const keysBefore = await dataKeys();
      const refused = await maestro(['backup', 'restore', c.file, '--prefix', other.prefix]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/prefix '.*' is not empty/);
      expect(await dataKeys()).toEqual(keysBefore);

      for (const k of keysBefore) await h.redis.del(k);
      const ok = await maestro(['backup', 'restore', c.file, '--prefix', other.prefix, '--json']);
      expect(ok.status).toBe(0);
      const strip = (s: Awaited<ReturnType<typeof served>>) => JSON.parse(JSON.stringify(s).replaceAll(other.base, '').replaceAll(h.base, '')) as unknown;
      expect(strip(await served(other, ids))).toEqual(strip(await served(h, ids)));
    } finally {
      await other.close();
    }

    const text = gunzipSync(readFileSync(c.file)).toString('utf8').trim().split('\n');
    const truncated = join(dir, 'truncated.jsonl');
    writeFileSync(truncated, text.slice(0, -5).join('\n') + '\n');
    const empty = `t${Date.now()}x:`;
    await expect(restoreBackup(h.redis, empty, (await import('node:fs')).createReadStream(truncated))).rejects.toThrow(/truncated/);
    const foreign = join(dir, 'foreign.jsonl');
    writeFileSync(foreign, '{"hello":"world"}\n');
    const empty2 = `t${Date.now()}y:`;
    await expect(restoreBackup(h.redis, empty2, (await import('node:fs')).createReadStream(foreign))).rejects.toThrow(BackupError);
    expect(await scanKeys(h.redis, `${empty2}*`)).toEqual([]);
  }, 60_000);

  it('restores a backup taken before entities kept their documents (no <entity>:doc keys): reads serve the same entities, and each gets its document back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-backups-'));
    const c = JSON.parse((await maestro(['backup', 'create', '--dir', dir, '--prefix', h.prefix, '--json'])).stdout).data as { file: string };
    // the shape of a backup before issue 12: entity hashes only, no stored documents beside them
    const all = gunzipSync(readFileSync(c.file)).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; k?: string; keys?: number; slots?: number });
    const lines = all.filter((r) => !(r.kind === 'key' && r.k?.endsWith(':doc')));
    const stripped = all.length - lines.length;
    expect(stripped).toBeGreaterThan(5);
    for (const r of lines) if (r.kind === 'end') r.keys = r.keys! - stripped;
    const old = join(dir, 'before-documents.jsonl');
    writeFileSync(old, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const other = await startHarness(h.testRedis.url);
    try {
      for (let i = 0; i < 100 && (await other.req('GET', '/api/templates')).body.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      for (const k of (await scanKeys(h.redis, `${other.prefix}*`)).filter((k) => isBackedUp(k.slice(other.prefix.length)))) await h.redis.del(k);
      await restoreBackup(h.redis, other.prefix, (await import('node:fs')).createReadStream(old));
      const strip = (s: Awaited<ReturnType<typeof served>>) => JSON.parse(JSON.stringify(s).replaceAll(other.base, '').replaceAll(h.base, '')) as unknown;
      expect(strip(await served(other, ids))).toEqual(strip(await served(h, ids)));
      for (const t of ids.tasks) {
        const pid = await h.redis.get(`${other.prefix}lookup:task:${t}`);
        expect(await h.redis.exists(`${other.prefix}{${pid}}:task:${t}:doc`)).toBe(1);
      }
    } finally {
      await other.close();
    }
  }, 60_000);

  it.each([
    ['optimistic reads', 3],
    ['an atomic copy (forced)', 0],
  ])('each project is a snapshot of one moment while writes go on: %s', async (_name, optimisticAttempts) => {
    const pid = ids.projects[1]!;
    let writing = true;
    const writes = (async () => {
      let n = 0;
      while (writing) {
        await h.req('POST', '/api/tasks', { projectId: pid, title: `busy ${n++}` });
      }
      return n;
    })();
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (b: Buffer) => chunks.push(b));
    await new Promise((r) => setTimeout(r, 100));
    const summary = await exportBackup(h.redis, h.prefix, out, undefined, { optimisticAttempts });
    writing = false;
    const written = await writes;
    expect(written).toBeGreaterThan(5);
    const recs = Buffer.concat(chunks)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; k: string; t: string; v: unknown; slot?: string; revision?: string });
    const tag = `{${pid}}`;
    const index = recs.find((r) => r.k === `${tag}:tasks`)!.v as [string, number][];
    const hashes = recs.filter((r) => r.k?.startsWith(`${tag}:task:`) && !r.k.endsWith(':doc')).map((r) => r.k.slice(`${tag}:task:`.length));
    expect(index.map(([m]) => m.slice(16)).sort()).toEqual(hashes.sort());
    // every task's stored document is in the same snapshot
    const docs = recs.filter((r) => r.k?.startsWith(`${tag}:task:`) && r.k.endsWith(':doc')).map((r) => r.k.slice(`${tag}:task:`.length, -':doc'.length));
    expect(docs.sort()).toEqual(hashes.sort());
    const stream = recs.find((r) => r.k === `${tag}:events`)!.v as { entries: unknown[] };
    const created = (stream.entries as [string, string[]][]).filter(([, f]) => f[1] === 'task:created').length;
    expect(created).toBe(hashes.length);
    // the recorded revision is the one the data is at
    expect(recs.find((r) => r.kind === 'slot' && r.slot === tag)!.revision).toBe(recs.find((r) => r.k === `${tag}:rev`)!.v);
    if (optimisticAttempts === 0) expect(summary.snapshots).toBeGreaterThan(0);
    expect(await scanKeys(h.redis, `${h.prefix}*:snap:*`)).toEqual([]);
    expect(recs.some((r) => r.k?.endsWith('}:keys'))).toBe(false);
    console.log(`snapshot under load (${_name}): ${written} tasks written during the export, ${summary.retries} re-reads, ${summary.snapshots} atomic copies, ${hashes.length} tasks in the snapshot`);
  }, 60_000);

  it('the key registry lists exactly the keys of each project, live and after a restore', async () => {
    // live: a project that saw creates, links, deletes and a status move
    const p = (await h.req('POST', '/api/projects', { name: 'registry' })).body;
    const a = (await h.req('POST', '/api/tasks', { projectId: p.id, title: 'a' })).body;
    const b = (await h.req('POST', '/api/tasks', { projectId: p.id, title: 'b', parentId: a.id })).body;
    const s = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [a.id, b.id] })).body;
    await h.req('PATCH', `/api/tasks/${b.id}`, { status: 'blocked' });
    await h.req('DELETE', `/api/sessions/${s.id}`);
    await h.req('DELETE', `/api/tasks/${b.id}`);
    for (const pid of [...ids.projects, p.id]) {
      const tag = `${h.prefix}{${pid}}:`;
      const scanned = (await scanKeys(h.redis, `${tag}*`)).filter((k) => k !== `${tag}keys` && k !== `${tag}members`).sort();
      expect((await h.redis.smembers(`${tag}keys`)).sort()).toEqual(scanned);
    }
  });

  it('a worker writes scheduled backups (BACKUP_CRON) and keeps only BACKUP_KEEP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-scheduled-'));
    const w = await startWorkerProcess(h.testRedis.url, h.prefix, { BACKUP_CRON: '* * * * * *', BACKUP_KEEP: '2', BACKUP_DIR: dir, METRICS_PORT: '0' });
    const seen = new Set<string>();
    let max = 0;
    let metricsText = '';
    try {
      const deadline = Date.now() + 20_000;
      while (seen.size < 4 && Date.now() < deadline) {
        const names = readdirSync(dir).filter((n) => n.endsWith('.jsonl.gz'));
        names.forEach((n) => seen.add(n));
        max = Math.max(max, names.length);
        await new Promise((r) => setTimeout(r, 100));
      }
      // the ticks run on whichever worker takes them (this file's spawn worker too): ask both
      for (const p of [w, worker]) {
        const port = p.logs.find((l) => typeof l.metricsPort === 'number')!.metricsPort as number;
        metricsText += await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      }
    } finally {
      await w.kill('SIGTERM');
    }
    const completed = [...metricsText.matchAll(/^maestro_maintenance_jobs_total\{job="backup",result="completed"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    // every file seen came from a completed job, but the last may not be counted yet (it counts after pruning)
    expect(completed).toBeGreaterThanOrEqual(seen.size - 1);
    expect(metricsText).toMatch(/^maestro_backup_last_success_timestamp_seconds\{[^}]*\} 1\d{9}/m);
    // turn the schedule off again for the other tests
    const off = await startWorkerProcess(h.testRedis.url, h.prefix, { BACKUP_CRON: 'off', METRICS_PORT: '0' });
    await new Promise((r) => setTimeout(r, 500));
    await off.kill('SIGTERM');
    expect(seen.size).toBeGreaterThanOrEqual(4);
    expect(max).toBeLessThanOrEqual(3); // a new file exists for a moment before the prune
    const left = readdirSync(dir).filter((n) => n.endsWith('.jsonl.gz'));
    expect(left.length).toBeLessThanOrEqual(2);
    expect(left.every((n) => /^maestro-backup-.*Z\.jsonl\.gz$/.test(n))).toBe(true);
    expect(readdirSync(dir).some((n) => n.endsWith('.partial'))).toBe(false);
  }, 60_000);
});
