// Redis bench (issue 12): what each operation costs INSIDE Redis — the cluster's ceiling, since every
// replica shares one Redis and Redis runs its commands on one core. Redis CPU is read from `INFO cpu`
// (used_cpu_user + used_cpu_sys of the redis-server) before and after a run of N operations made by
// the API's own store code (dist/shared/stores: the same Lua scripts and commands as the routes), so
// µs/op = Δcpu / N; nothing else talks to this Redis meanwhile. Then, through one API replica, a
// legacy whole list (`GET /api/tasks?projectId=…`, no `?limit=`) while a GET loop on another
// connection measures its own latency.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directStores } from './http-bench.mjs';
import { benchApiEnv, machine, percentile, startProcess, startRedis, versions, writeSection } from './lib.mjs';

const APPENDS = Number(process.env.BENCH_REDIS_APPENDS ?? 100_000);
const DATASETS = (process.env.BENCH_REDIS_DATASETS ?? '10000,1000000').split(',').map(Number);
const OPS = Number(process.env.BENCH_REDIS_OPS ?? 5000);
const LEGACY_TASKS = Number(process.env.BENCH_REDIS_LEGACY_TASKS ?? 10_000);
const IN_FLIGHT = 50;
const PREFIX = 'rb:';

function info(port, section) {
  const out = spawnSync('redis-cli', ['-p', String(port), 'info', section], { encoding: 'utf8' }).stdout;
  const m = {};
  for (const line of out.split('\n')) {
    const [k, v] = line.trim().split(':');
    if (k && v !== undefined) m[k] = v;
  }
  return m;
}
const redisCpu = (port) => {
  const i = info(port, 'cpu');
  return Number(i.used_cpu_user) + Number(i.used_cpu_sys);
};
const memoryUsage = (port, key) => Number(spawnSync('redis-cli', ['-p', String(port), 'memory', 'usage', key, 'samples', '0'], { encoding: 'utf8' }).stdout.trim() || 0);

/** Runs `n` calls of `fn(i)` with IN_FLIGHT in flight; Redis CPU µs per call (Δ INFO cpu / n). */
async function redisMicros(port, n, fn) {
  let next = 0;
  const c0 = redisCpu(port);
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, n) }, async () => {
      for (let i = next++; i < n; i = next++) await fn(i);
    }),
  );
  return ((redisCpu(port) - c0) * 1e6) / n;
}

async function appendBench(redis, stores, admin) {
  const p = JSON.parse((await stores.projects.create(admin, { name: 'appends' })).json);
  const task = JSON.parse((await stores.tasks.create(admin, { projectId: p.id, title: 'reported on' })).json);
  const s = JSON.parse((await stores.sessions.create(admin, { projectId: p.id, taskIds: [task.id] })).json);
  const stream = `${PREFIX}{${p.id}}:events`;
  // warm-up on another session of another project (Node's JIT, Redis' allocator, the scripts'
  // caches), so the first block measures an append, not a cold start
  const wp = JSON.parse((await stores.projects.create(admin, { name: 'warm-up' })).json);
  const wt = JSON.parse((await stores.tasks.create(admin, { projectId: wp.id, title: 'warm-up' })).json);
  const ws = JSON.parse((await stores.sessions.create(admin, { projectId: wp.id, taskIds: [wt.id] })).json);
  await redisMicros(redis.port, 2000, (i) => stores.sessions.addTaskTimeline(admin, wt.id, { message: `warm-up ${i}`, sessionId: ws.id }));
  const blocks = [];
  const BLOCK = 1000;
  let done = 0;
  const t0 = performance.now();
  while (done < APPENDS) {
    const n = Math.min(BLOCK, APPENDS - done);
    const mem0 = memoryUsage(redis.port, stream);
    const len0 = Number(spawnSync('redis-cli', ['-p', String(redis.port), 'xlen', stream], { encoding: 'utf8' }).stdout.trim());
    // an append as the routes make it: the entry to its list and the small event to the stream
    // (POST /tasks/:id/timeline: task check, lookup, commit; no session in the answer)
    const message = (i) => `progress report ${done + i}: ${'x'.repeat(60)}`;
    const us = await redisMicros(redis.port, n, (i) => stores.sessions.addTaskTimeline(admin, task.id, { message: message(i), sessionId: s.id }));
    // the first and the last block also measure POST /api/v1/sessions/:id/timeline, whose answer is
    // the session's document with the last 100 entries of each list and their counts
    const withView = done === 0 || done + n >= APPENDS ? await redisMicros(redis.port, 500, (i) => stores.sessions.addTimeline(admin, s.id, { message: message(n + i) })) : undefined;
    const mem1 = memoryUsage(redis.port, stream);
    const len1 = Number(spawnSync('redis-cli', ['-p', String(redis.port), 'xlen', stream], { encoding: 'utf8' }).stdout.trim());
    blocks.push({ from: done, us, withView, streamBytesPerEntry: len1 > len0 ? (mem1 - mem0) / (len1 - len0) : mem1 / Math.max(1, len1) });
    done += n;
    if (done % 20_000 === 0) console.log(`  ${done} appends, last block ${us.toFixed(1)} µs/append`);
  }
  const streamLen = Number(spawnSync('redis-cli', ['-p', String(redis.port), 'xlen', stream], { encoding: 'utf8' }).stdout.trim());
  const streamMem = memoryUsage(redis.port, stream);
  return { blocks, seconds: (performance.now() - t0) / 1000, streamLen, streamMem, sessionId: s.id, projectId: p.id };
}

/** Loads `n` tasks into a fresh project with the store's own create (the route's commit), many in flight. */
async function loadTasks(stores, admin, n) {
  const p = JSON.parse((await stores.projects.create(admin, { name: `tasks ${n}` })).json);
  const ids = new Array(n);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      for (let i = next++; i < n; i = next++) {
        ids[i] = JSON.parse((await stores.tasks.create(admin, { projectId: p.id, title: `task ${i}`, description: 'a task of the bench, with a short description' })).json).id;
        if (i > 0 && i % 100_000 === 0) console.log(`  ${i} tasks loaded`);
      }
    }),
  );
  return { project: p, ids, seconds: (performance.now() - t0) / 1000 };
}

async function taskOps(redis, stores, admin, n) {
  const data = await loadTasks(stores, admin, n);
  const pick = () => data.ids[Math.floor(Math.random() * data.ids.length)];
  const get = await redisMicros(redis.port, OPS, () => stores.tasks.get(admin, pick()));
  // pages from random places in the index: the cursor of a random task
  const cursors = Array.from({ length: 200 }, () => {
    const t = data.ids[Math.floor(Math.random() * Math.max(1, data.ids.length - 200))];
    return Buffer.from(`${String(Number(t.split('_')[1])).padStart(15, '0')}:${t}`, 'utf8').toString('base64url');
  });
  const page = await redisMicros(redis.port, Math.max(200, OPS / 10), (i) => stores.tasks.list(admin, { projectId: data.project.id, limit: 100, cursor: cursors[i % cursors.length] }));
  const create = await redisMicros(redis.port, OPS, (i) => stores.tasks.create(admin, { projectId: data.project.id, title: `new ${i}` }));
  const patch = await redisMicros(redis.port, OPS, () => stores.tasks.update(admin, pick(), { status: 'in_progress' }));
  const mem = info(redis.port, 'memory').used_memory_human;
  return { n, load: data.seconds, get, page, create, patch, mem };
}

async function legacyListBench(redis) {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-redis-'));
  const api = await startProcess('api/server.js', benchApiEnv(redis.url, dir, { MAESTRO_REDIS_PREFIX: 'rl:' }));
  const { stores, admin, close } = await directStores(redis.url, 'rl:');
  try {
    const data = await loadTasks(stores, admin, LEGACY_TASKS);
    const one = data.ids[0];
    const lat = [];
    let stop = false;
    const getLoop = (async () => {
      while (!stop) {
        const t = performance.now();
        await fetch(`${api.base}/api/v1/tasks/${one}`).then((r) => r.arrayBuffer());
        lat.push(performance.now() - t);
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const before = lat.length;
    const lists = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await fetch(`${api.base}/api/tasks?projectId=${data.project.id}`);
      const body = await r.text();
      lists.push({ ms: performance.now() - t, items: JSON.parse(body).length, bytes: body.length, link: r.headers.get('link') });
    }
    stop = true;
    await getLoop;
    const during = lat.slice(before).sort((a, b) => a - b);
    return { lists, p50: percentile(during, 50), p99: percentile(during, 99), max: during.at(-1), gets: during.length };
  } finally {
    close();
    api.stop();
  }
}

export async function runRedisBench() {
  const redis = await startRedis();
  const { stores, admin, close } = await directStores(redis.url, PREFIX);
  const startedAt = new Date().toISOString();
  try {
    console.log(`appending ${APPENDS} timeline entries to one session`);
    const ap = await appendBench(redis, stores, admin);
    const first = ap.blocks[0];
    const last = ap.blocks.at(-1);
    const datasets = [];
    for (const n of DATASETS) {
      console.log(`tasks: ${n}`);
      datasets.push(await taskOps(redis, stores, admin, n));
    }
    close();
    console.log('legacy whole list under a GET loop');
    const legacy = await legacyListBench(redis);
    const f = (x) => x.toFixed(1);
    const body = [
      `${machine()}; ${versions()}; ${startedAt}. Command: \`npm run bench -- redis\` (BENCH_REDIS_APPENDS=${APPENDS}, BENCH_REDIS_DATASETS=${DATASETS.join(',')}, BENCH_REDIS_OPS=${OPS}, ${IN_FLIGHT} calls in flight). Redis CPU = Δ(used_cpu_user + used_cpu_sys) of \`INFO cpu\` over the run ÷ operations; only the bench talks to this Redis.`,
      '',
      `### Appends to one session, 0 → ${APPENDS} entries (the store code of \`POST /tasks/:id/timeline\`: task check, session lookup, one commit; after 2,000 warm-up appends to another session)`,
      '',
      '| entries before the block | Redis µs per append | stream bytes per entry (block) |',
      '|---|---|---|',
      ...ap.blocks.filter((b, i) => i === 0 || i === ap.blocks.length - 1 || b.from % Math.max(1000, Math.floor(APPENDS / 10)) === 0).map((b) => `| ${b.from} | ${f(b.us)} | ${f(b.streamBytesPerEntry)} |`),
      '',
      `First 1,000: ${f(first.us)} µs; last 1,000: ${f(last.us)} µs (last/first ${(last.us / first.us).toFixed(2)}×). With the /api/v1 answer (\`POST /api/v1/sessions/:id/timeline\`: + the document, the last 100 entries of each list and the counts, one pipeline): ${f(first.withView)} µs at the start, ${f(last.withView)} µs at the end. Stream after the run: ${ap.streamLen} entries (MAXLEN ~), ${(ap.streamMem / ap.streamLen).toFixed(0)} bytes per entry on average (MEMORY USAGE; a block's figure jumps when MAXLEN ~ trims a whole node). ${f(ap.seconds)} s in all.`,
      '',
      '### Tasks: Redis µs per operation by project size',
      '',
      '| tasks | load (s) | GET | page of 100 | create | PATCH status | used_memory |',
      '|---|---|---|---|---|---|---|',
      ...datasets.map((d) => `| ${d.n} | ${f(d.load)} | ${f(d.get)} | ${f(d.page)} | ${f(d.create)} | ${f(d.patch)} | ${d.mem} |`),
      '',
      `### A legacy whole list of ${LEGACY_TASKS} tasks (\`GET /api/tasks?projectId=…\`, 1 replica) while a GET loop runs on another connection`,
      '',
      `Lists: ${legacy.lists.map((l) => `${f(l.ms)} ms (${l.items} items, ${(l.bytes / 2 ** 20).toFixed(1)} MiB${l.link ? ', Link' : ''})`).join('; ')}. GET latency meanwhile (${legacy.gets} GETs): p50 ${f(legacy.p50)} ms, p99 ${f(legacy.p99)} ms, max ${f(legacy.max)} ms.`,
    ].join('\n');
    writeSection('Redis cost per operation (issue 12)', body);
    console.log(body);
  } finally {
    redis.stop();
  }
}

/**
 * `npm run bench -- claims` (issue 15): what a claim costs inside Redis, and claim-next throughput.
 * The store code of the routes (dist/shared/stores), one Redis of its own: (1) claim of a given ready
 * task then its release, µs of Redis CPU per call (Δ INFO cpu / calls, IN_FLIGHT in flight); (2)
 * BENCH_CLAIM_SESSIONS (20) sessions calling claim-next until BENCH_CLAIM_TASKS (2,000) ready tasks are
 * all claimed: claims per second (wall clock), Redis µs per claim, and that no task was claimed twice.
 */
export async function runClaimsBench() {
  const redis = await startRedis();
  const { stores, admin, close } = await directStores(redis.url, PREFIX);
  const startedAt = new Date().toISOString();
  const N = Number(process.env.BENCH_CLAIM_TASKS ?? 2000);
  const SESSIONS = Number(process.env.BENCH_CLAIM_SESSIONS ?? 20);
  try {
    const project = async (name, n) => {
      const p = JSON.parse((await stores.projects.create(admin, { name })).json);
      const ids = new Array(n);
      let next = 0;
      await Promise.all(Array.from({ length: 100 }, async () => {
        for (let i = next++; i < n; i = next++) ids[i] = JSON.parse((await stores.tasks.create(admin, { projectId: p.id, title: `t${i}`, priority: ['low', 'medium', 'high'][i % 3] })).json).id;
      }));
      const sessions = [];
      for (let i = 0; i < SESSIONS; i++) sessions.push(JSON.parse((await stores.sessions.create(admin, { projectId: p.id, taskIds: [] })).json).id);
      return { p, ids, sessions };
    };
    // warm-up: the scripts, the JIT
    const w = await project('warm-up', 200);
    await redisMicros(redis.port, 200, (i) => stores.claims.claim(admin, w.ids[i], { sessionId: w.sessions[i % SESSIONS] }));
    const a = await project('claims', N);
    const claim = await redisMicros(redis.port, N, (i) => stores.claims.claim(admin, a.ids[i], { sessionId: a.sessions[i % SESSIONS] }));
    const release = await redisMicros(redis.port, N, (i) => stores.claims.release(admin, a.ids[i]));
    const b = await project('claim-next', N);
    const claimed = [];
    const c0 = redisCpu(redis.port);
    const t0 = performance.now();
    await Promise.all(b.sessions.map(async (sessionId) => {
      for (;;) {
        const r = await stores.claims.claimNext(admin, { projectId: b.p.id, sessionId });
        if (!r) return;
        claimed.push(JSON.parse(r.json).id);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const nextUs = ((redisCpu(redis.port) - c0) * 1e6) / claimed.length;
    const distinct = new Set(claimed).size;
    close();
    const f = (x) => x.toFixed(1);
    const body = [
      `${machine()}; ${versions()}; ${startedAt}. Command: \`npm run bench -- claims\` (BENCH_CLAIM_TASKS=${N}, BENCH_CLAIM_SESSIONS=${SESSIONS}); the store code of the routes on a Redis of its own; Redis CPU = Δ(used_cpu_user + used_cpu_sys) of \`INFO cpu\` ÷ calls.`,
      '',
      '| operation | Redis µs per call |',
      '|---|---|',
      `| claim of a given ready task (\`POST /tasks/:id/claim\`: lookup, task and session reads, one commit, the sweeper's index twice), ${IN_FLIGHT} in flight | ${f(claim)} |`,
      `| release (\`DELETE /tasks/:id/claim\`) | ${f(release)} |`,
      `| claim-next, ${SESSIONS} sessions at once over ${N} ready tasks (incl. attempts lost to another session) | ${f(nextUs)} |`,
      '',
      `claim-next: ${claimed.length} claims in ${f(seconds)} s = ${(claimed.length / seconds).toFixed(0)} claims/s with ${SESSIONS} concurrent sessions (one process, no HTTP); ${distinct} distinct tasks (${claimed.length - distinct} claimed twice).`,
    ].join('\n');
    writeSection('Claims (issue 15)', body);
    console.log(body);
  } finally {
    redis.stop();
  }
}
