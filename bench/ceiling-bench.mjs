// Ceiling benchmark (issue 7): the Redis work of each HTTP operation without HTTP. A loop in this
// process calls the same store methods the routes call (dist/shared/stores: the same Lua scripts via
// EVALSHA, the same extra commands), over one ioredis connection made like the API's, at the same
// concurrency as the HTTP bench; then the same operation through 1 API replica (autocannon) on the
// same Redis and data. API overhead = API req/s ÷ raw ops/s. redis-benchmark gives Redis' own
// ceiling for plain commands and for the get/list scripts.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HTTP_CONNECTIONS, HTTP_DATASETS, HTTP_SECONDS, HTTP_WARMUP, OPS, measureOp, prepareDataset, call, directStores } from './http-bench.mjs';
import { machine, machineCpuSeconds, percentile, root, startQuietApi, startRedis, treeCpuSeconds, versions, writeSection } from './lib.mjs';

const DATASETS = (process.env.BENCH_CEILING_DATASETS ?? HTTP_DATASETS.join(',')).split(',').map(Number);
const PAGE_LIMIT = Number(process.env.BENCH_HTTP_PAGE_LIMIT ?? 100);
const SESSIONS = Number(process.env.BENCH_HTTP_SESSIONS ?? 100);
const PREFIX = 'bench:';
const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];
const dist = (p) => join(root, 'dist', p);

/** Runs `fn` with CONNECTIONS calls in flight for `seconds`; ops/s and latency percentiles (ms). */
async function loop(fn, seconds) {
  const lat = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: HTTP_CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await fn();
        } catch {
          errors++;
        }
        lat.push(performance.now() - s);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { ops: Math.round(lat.length / wall), count: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), errors, cpuPct: Math.round((cpu.user + cpu.system) / 1e4 / wall) };
}

function commandStats(redisPort) {
  const out = spawnSync('redis-cli', ['-p', String(redisPort), 'info', 'commandstats'], { encoding: 'utf8' }).stdout;
  const m = new Map();
  for (const line of out.split('\n')) {
    const x = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (x) m.set(x[1], Number(x[2]));
  }
  return m;
}

/** redis-benchmark of one command line: requests per second and p50 (ms), 50 clients. */
function redisBenchmark(port, args, n) {
  const r = spawnSync('redis-benchmark', ['-p', String(port), '-c', String(HTTP_CONNECTIONS), '-n', String(n), '--csv', ...args], { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n').filter((l) => !l.startsWith('"test"'));
  return lines.map((l) => {
    const cells = l.split('","').map((c) => c.replace(/"/g, ''));
    return { test: cells[0], rps: Math.round(Number(cells[1])), p50: Number(cells[4]), p99: Number(cells[6]) };
  });
}

export async function runCeilingBench() {
  const started = performance.now();
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-ceiling-'));
  const api = await startQuietApi({
    REDIS_URL: redis.url,
    MAESTRO_REDIS_PREFIX: PREFIX,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
    SESSION_DIR: join(dir, 'sessions'),
    DATA_DIR: join(dir, 'data'),
    METRICS_PORT: '0',
  });
  const direct = await directStores(redis.url, PREFIX);
  const { stores, admin: LOCAL_ADMIN } = direct;
  const rows = [];
  const rb = [];
  try {
    for (const n of DATASETS) {
      const data = await prepareDataset(api.base, n, direct);
      const pid = data.project.id;
      for (const op of OPS) {
        let fn;
        if (op === 'get') fn = () => stores.tasks.get(LOCAL_ADMIN, pick(data.ids));
        if (op === 'list') {
          const starts = ['', ...data.cursors];
          fn = () => stores.tasks.list(LOCAL_ADMIN, { projectId: pid, limit: PAGE_LIMIT, cursor: pick(starts) || undefined });
        }
        if (op === 'patch') fn = () => stores.tasks.update(LOCAL_ADMIN, pick(data.ids), { description: 'patched by the HTTP bench', priority: 'high' });
        if (op === 'timeline') {
          const sessions = [];
          for (let i = 0; i < SESSIONS; i++) sessions.push((await call(api.base, 'POST', '/api/sessions', { projectId: pid, taskIds: [data.ids[i % n]] })).body.id);
          fn = () => stores.sessions.addTaskTimeline(LOCAL_ADMIN, pick(data.ids), { message: 'progress reported by the HTTP bench', sessionId: pick(sessions), type: 'progress' });
        }
        if (op === 'create') fn = () => stores.tasks.create(LOCAL_ADMIN, { projectId: pid, title: 'task created by the HTTP bench' });
        if (HTTP_WARMUP > 0) await loop(fn, HTTP_WARMUP);
        const before = commandStats(redis.port);
        const redisCpu0 = treeCpuSeconds(redis.pid);
        const machine0 = machineCpuSeconds();
        const t0 = performance.now();
        const raw = await loop(fn, HTTP_SECONDS);
        const wall = (performance.now() - t0) / 1000;
        raw.redisPct = Math.round((100 * (treeCpuSeconds(redis.pid) - redisCpu0)) / wall);
        raw.otherPct = Math.max(0, Math.round((100 * (machineCpuSeconds() - machine0)) / wall) - raw.redisPct - raw.cpuPct);
        const after = commandStats(redis.port);
        const perOp = [...after]
          .map(([cmd, calls]) => [cmd, (calls - (before.get(cmd) ?? 0)) / raw.count])
          .filter(([cmd, x]) => x >= 0.05 && cmd !== 'info')
          .sort((a, b) => b[1] - a[1])
          .map(([cmd, x]) => `${cmd} ${x.toFixed(x >= 10 ? 0 : 1)}`)
          .join(', ');
        const http = await measureOp(api.base, op, data, { api: api.child.pid, redis: redis.pid });
        const row = { op, n, raw, http, perOp };
        console.log(JSON.stringify(row));
        rows.push(row);
      }
      // Redis alone (C client, 50 connections): plain commands, and the scripts behind get and list
      const lib = readFileSync(dist('shared/redis-scripts/render-lib.lua'), 'utf8');
      const sha = (name) => createHash('sha1').update(`${lib}\n${readFileSync(dist(`shared/redis-scripts/${name}.lua`), 'utf8')}`).digest('hex');
      const taskKey = `${PREFIX}{${pid}}:task:${data.ids[0]}`;
      const page = ['evalsha', sha('page'), '1', `${PREFIX}{${pid}}:tasks`, 'task', `${PREFIX}{${pid}}:task:`, '', String(PAGE_LIMIT), 'json', '', 'eq', '', '2000'];
      if (rb.length === 0) rb.push(...redisBenchmark(redis.port, ['-t', 'ping,get,set'], 200_000).map((x) => ({ ...x, n })));
      rb.push({ ...redisBenchmark(redis.port, ['evalsha', sha('render'), '1', taskKey, 'task'], 200_000)[0], test: 'EVALSHA render (1 task, the get route)', n });
      rb.push({ ...redisBenchmark(redis.port, page, 20_000)[0], test: `EVALSHA page (first ${PAGE_LIMIT} tasks, the list route)`, n });
    }
  } finally {
    direct.close();
    api.stop();
    redis.stop();
  }
  const f = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  const cmd = `BENCH_HTTP_SECONDS=${HTTP_SECONDS} BENCH_HTTP_WARMUP=${HTTP_WARMUP} BENCH_HTTP_CONNECTIONS=${HTTP_CONNECTIONS} BENCH_CEILING_DATASETS=${DATASETS.join(',')} npm run bench -- ceiling`;
  writeSection(
    'Ceiling: the same Redis work without HTTP (`npm run bench -- ceiling`)',
    `Run ${new Date().toISOString()} on ${machine()}, ${versions()}; Redis, 1 API replica and the bench process share the machine. Whole run: ${((performance.now() - started) / 60000).toFixed(1)} min.
Command: \`${cmd}\`

"raw": a loop in the bench process calling the store method each route calls (\`dist/shared/stores\`: same Lua scripts by EVALSHA, same extra commands, one ioredis connection made by the API's \`createRedis\`), ${HTTP_CONNECTIONS} calls in flight, ${HTTP_WARMUP} s warm-up then ${HTTP_SECONDS} s. "API": the same operation through 1 API replica directly (autocannon, ${HTTP_CONNECTIONS} connections, as in the HTTP bench), right after, on the same Redis and data. Node CPU per op: CPU time of the process doing the work (bench process for raw, which also runs the loop; API replica for API) ÷ operations.

| operation | tasks | raw ops/s | raw p50 / p99 (ms) | API req/s | API p50 / p99 (ms) | API ÷ raw | Node CPU per op raw / API (µs) | Redis CPU % raw / API | other processes CPU % raw / API | Redis commands per op (incl. inside scripts) |
|---|---|---|---|---|---|---|---|---|---|---|
${rows
  .map(
    (r) =>
      `| ${r.op} | ${r.n} | ${r.raw.ops}${r.raw.errors ? ` (${r.raw.errors} errors)` : ''} | ${f(r.raw.p50)} / ${f(r.raw.p99)} | ${r.http.rps} | ${f(r.http.p50)} / ${f(r.http.p99)} | ${(r.http.rps / r.raw.ops).toFixed(2)} | ${Math.round((r.raw.cpuPct * 1e4) / r.raw.ops)} / ${Math.round((r.http.cpu.api * 1e4) / r.http.rps)} | ${r.raw.redisPct} / ${r.http.cpu.redis} | ${r.raw.otherPct} / ${Math.max(0, r.http.cpu.machine - r.http.cpu.api - r.http.cpu.redis - r.http.cpu.bench)} | ${r.perOp} |`,
  )
  .join('\n')}

Redis alone (\`redis-benchmark -c ${HTTP_CONNECTIONS}\`, no pipelining):

| command | tasks in project | ops/s | p50 / p99 (ms) |
|---|---|---|---|
${rb.map((x) => `| ${x.test} | ${x.n} | ${x.rps} | ${x.p50} / ${x.p99} |`).join('\n')}`,
  );
  return rows;
}
