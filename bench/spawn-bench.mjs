// Spawn benchmark (issue "Spawn"): spawn throughput and request → `session:spawn` latency with 1 and 2
// worker processes, for the CLI generator (a `maestro manifest generate` child process per spawn) and
// MANIFEST_GENERATOR=server (in-process).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { machine, percentile, root, startProcess, startRedis, writeSection } from './lib.mjs';

const SPAWNS = Number(process.env.BENCH_SPAWNS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_SPAWN_CONCURRENCY ?? 10);
const CONFIGS = [
  { generator: 'cli', workers: 1 },
  { generator: 'cli', workers: 2 },
  { generator: 'server', workers: 1 },
  { generator: 'server', workers: 2 },
];

const now = () => performance.timeOrigin + performance.now();

async function runOnce({ generator, workers }) {
  const redis = await startRedis();
  const prefix = 'bench:';
  const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-spawn-'));
  const shared = { REDIS_URL: redis.url, MAESTRO_REDIS_PREFIX: prefix, SESSION_DIR: join(dir, 'sessions'), DATA_DIR: join(dir, 'data'), SPAWN_WAIT_MS: '0' };
  const api = await startProcess('api/server.js', shared);
  const workerEnv = { ...shared, SERVER_URL: api.base, MANIFEST_GENERATOR: generator, MAESTRO_CLI_PATH: join(root, 'dist/cli/index.js') };
  const procs = [];
  for (let i = 0; i < workers; i++) procs.push(await startWorker(workerEnv));
  const post = async (path, body, headers = {}) =>
    (await fetch(api.base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })).json();
  const project = await post('/api/v1/projects', { name: 'bench', workingDir: '/tmp' });
  const task = await post('/api/v1/tasks', { projectId: project.id, title: 'bench task' });

  const sentAt = new Map();
  const latencies = [];
  let done = 0;
  let finish;
  const allDone = new Promise((r) => (finish = r));
  const ws = new WebSocket(api.base.replace('http', 'ws') + '/');
  await new Promise((r) => ws.once('open', r));
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type !== 'session:spawn') return;
    const t0 = sentAt.get(m.data.session.id);
    if (t0 === undefined) return;
    latencies.push(now() - t0);
    if (++done === SPAWNS) finish();
  });

  const start = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SPAWNS) {
        next++;
        const t0 = now();
        const r = await post('/api/v1/sessions/spawn', { projectId: project.id, taskIds: [task.id] }, { Prefer: 'respond-async' });
        sentAt.set(r.sessionId, t0);
      }
    }),
  );
  await Promise.race([allDone, new Promise((r) => setTimeout(r, 300_000))]);
  const seconds = (now() - start) / 1000;
  ws.terminate();
  for (const p of procs) p.child.kill('SIGKILL');
  api.stop();
  redis.stop();
  latencies.sort((a, b) => a - b);
  const row = {
    generator,
    workers,
    spawns: SPAWNS,
    completed: done,
    perSecond: (done / seconds).toFixed(1),
    p50: percentile(latencies, 50).toFixed(0),
    p99: percentile(latencies, 99).toFixed(0),
  };
  console.log(JSON.stringify(row));
  return row;
}

function startWorker(env) {
  // the worker logs "Maestro worker started" (no port): wrap startProcess's readiness on that line
  return new Promise((resolve, reject) => {
    import('node:child_process').then(({ spawn }) => {
      const child = spawn(process.execPath, [join(root, 'dist/worker/index.js')], {
        env: { ...process.env, LOG_LEVEL: 'info', WORKER_CONCURRENCY: '4', ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const t = setTimeout(() => reject(new Error('worker did not start')), 20_000);
      child.stdout.on('data', (d) => {
        if (String(d).includes('Maestro worker started')) {
          clearTimeout(t);
          resolve({ child });
        }
      });
    }, reject);
  });
}

/** Runs every configuration and writes the table to bench/RESULTS.md. */
export async function runSpawnBench() {
  const rows = [];
  for (const c of CONFIGS) rows.push(await runOnce(c));
  writeSection(
    'Spawn (`npm run bench -- spawn`)',
    `Run ${new Date().toISOString()} on ${machine()}; bench client, 1 API replica, the workers (WORKER_CONCURRENCY=4 each) and Redis share the machine.
Command: \`BENCH_SPAWNS=${SPAWNS} BENCH_SPAWN_CONCURRENCY=${CONCURRENCY} npm run bench -- spawn\` — ${SPAWNS} spawns of one task each, ${CONCURRENCY} requests in flight, \`Prefer: respond-async\`; latency = request sent → \`session:spawn\` received on a WebSocket.

| generator | workers | spawns | completed | spawns/s | request → session:spawn p50 / p99 (ms) |
|---|---|---|---|---|---|
${rows.map((r) => `| ${r.generator} | ${r.workers} | ${r.spawns} | ${r.completed} | ${r.perSecond} | ${r.p50} / ${r.p99} |`).join('\n')}

The CLI generator starts one \`node\` process per spawn (\`maestro manifest generate\`, which reads the
project and tasks back through the API); on 2 cores that process start dominates.`,
  );
  return rows;
}
