// HTTP benchmark (issue 7): autocannon (programmatic) against a local cluster (nginx + 2 API replicas
// on one fresh Redis), against 1 replica directly, and against 1 replica with authentication on (an
// API key per client, rate limits at their defaults; issue 12), or against any base URL (`--url`).
// Operations: create, get, list one page, patch a task, append a task timeline entry; each at every
// dataset size (tasks pre-loaded in the project). Reports req/s, latency p50/p99, the 2/1 replica
// ratio, where the CPU went, and the replica's CPU µs per request.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchApiEnv, machine, machineCpuSeconds, root, startNginx, startQuietApi, startRedis, treeCpuSeconds, versions, writeSection } from './lib.mjs';

const env = process.env;
export const HTTP_SECONDS = Number(env.BENCH_HTTP_SECONDS ?? 10);
export const HTTP_WARMUP = Number(env.BENCH_HTTP_WARMUP ?? 2);
export const HTTP_CONNECTIONS = Number(env.BENCH_HTTP_CONNECTIONS ?? 50);
export const HTTP_DATASETS = (env.BENCH_HTTP_DATASETS ?? '1000,100000').split(',').map(Number);
const PRELOAD_CONNECTIONS = Number(env.BENCH_HTTP_PRELOAD_CONNECTIONS ?? 100);
const PAGE_LIMIT = Number(env.BENCH_HTTP_PAGE_LIMIT ?? 100);
const SESSIONS = Number(env.BENCH_HTTP_SESSIONS ?? 100);
const TOKEN = env.BENCH_HTTP_TOKEN;
/** Clients of the authenticated replica: each its own user, API key and X-Forwarded-For address. */
const AUTH_CLIENTS = Number(env.BENCH_HTTP_AUTH_CLIENTS ?? 100);
/** Which local topologies to measure: `cluster` (nginx + 2 replicas), `replica` (1, auth off), `auth` (1, auth on). */
const TOPOLOGIES = (env.BENCH_HTTP_TOPOLOGIES ?? 'cluster,replica,auth').split(',').map((t) => t.trim());
/** Extra environment of the authenticated replica, as JSON (experiments, e.g. `{"PRINCIPAL_CACHE_TTL_MS":"0"}`). */
const AUTH_ENV = env.BENCH_HTTP_AUTH_ENV ? JSON.parse(env.BENCH_HTTP_AUTH_ENV) : {};
/** Creates run last so the reads see exactly the pre-loaded number of tasks. */
export const OPS = ['get', 'list', 'patch', 'timeline', 'create'];
/** The operations the http bench measures (BENCH_HTTP_OPS, default all, always in the order of OPS). */
const HTTP_OPS = env.BENCH_HTTP_OPS ? OPS.filter((op) => env.BENCH_HTTP_OPS.split(',').includes(op)) : OPS;

const jsonHeaders = () => ({ 'content-type': 'application/json', ...(TOKEN ? { authorization: `Bearer ${TOKEN}` } : {}) });
const pick = (arr) => arr[Math.floor(Math.random() * arr.length)];

/** One JSON request; throws on a non-2xx answer. Returns { body, headers }. */
export async function call(base, method, path, body) {
  const send = () =>
    fetch(base + path, {
      method,
      headers: jsonHeaders(),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
  // a pooled keep-alive connection the server has just closed ("other side closed"): retry once
  const res = await send().catch((err) => (err?.cause?.code === 'UND_ERR_SOCKET' ? send() : Promise.reject(err)));
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
  return { body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/**
 * Creates a project with `n` tasks, then walks the task list once to collect page cursors spread
 * over the whole project. With `direct` (a local Redis: { stores, admin } from dist/shared/stores)
 * the tasks are written by the store code the API runs for `POST /api/tasks` (the same Lua commit,
 * PRELOAD_CONNECTIONS in flight), which is faster than HTTP on a small machine; otherwise through
 * `base` with autocannon (PRELOAD_CONNECTIONS requests in flight).
 */
export async function prepareDataset(base, n, direct) {
  const project = (await call(base, 'POST', '/api/projects', { name: `bench-http-${n}-${Date.now()}`, workingDir: '/tmp' })).body;
  const ids = [];
  const t0 = performance.now();
  const task = { projectId: project.id, title: 'preloaded task', description: 'a task pre-loaded by the HTTP bench' };
  if (direct) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(PRELOAD_CONNECTIONS, n) }, async () => {
        while (next < n) {
          next++;
          ids.push(JSON.parse((await direct.stores.tasks.create(direct.admin, task)).json).id);
        }
      }),
    );
  } else if (n > 0) {
    const r = await autocannon({
      url: base,
      connections: Math.min(PRELOAD_CONNECTIONS, n),
      amount: n,
      timeout: 60,
      requests: [
        {
          method: 'POST',
          path: '/api/tasks',
          headers: jsonHeaders(),
          body: JSON.stringify(task),
          onResponse: (status, body) => {
            if (status === 201) ids.push(JSON.parse(body).id);
          },
        },
      ],
    });
    if (r.errors || r.non2xx) console.warn(`preload: ${r.errors} errors, ${r.non2xx} non-2xx`);
  }
  // top up what failed (if anything), one by one
  while (ids.length < n) ids.push((await call(base, 'POST', '/api/tasks', task)).body.id);
  const preloadSeconds = (performance.now() - t0) / 1000;

  // cursors: walk the project once with pages of n/100 (100…1000) tasks
  const walkLimit = Math.max(PAGE_LIMIT, Math.min(1000, Math.ceil(n / 100)));
  const cursors = [];
  let total;
  for (let cursor = ''; ; ) {
    const { headers } = await call(base, 'GET', `/api/tasks?projectId=${project.id}&limit=${walkLimit}${cursor ? `&cursor=${cursor}` : ''}`);
    total ??= headers.get('x-total-count');
    cursor = headers.get('x-next-cursor') ?? '';
    if (!cursor) break;
    cursors.push(cursor);
  }
  console.log(`dataset ${n}: project ${project.id}, ${ids.length} tasks in ${preloadSeconds.toFixed(1)} s (${direct ? 'store code' : 'HTTP'}; X-Total-Count ${total}), ${cursors.length} cursors`);
  return { n, project, ids, cursors, preloadSeconds, total, via: direct ? 'store' : 'http' };
}

/** { stores, admin, close } over a local Redis: the API's store code, run in this process. */
export async function directStores(redisUrl, prefix) {
  const dist = (p) => join(root, 'dist', p);
  const { createStores } = await import(dist('shared/stores/index.js'));
  const { createRedis } = await import(dist('shared/redis-connection.js'));
  const { LOCAL_ADMIN } = await import(dist('shared/principal.js'));
  const conn = createRedis(redisUrl, { failFast: true, commandTimeoutMs: 5000, name: 'bench' });
  await new Promise((r) => (conn.status === 'ready' ? r() : conn.once('ready', r)));
  // the API's defaults for what the stores read from the configuration
  const stores = createStores(conn, { MAESTRO_REDIS_PREFIX: prefix, EVENT_STREAM_MAXLEN: 10_000 });
  return { stores, admin: LOCAL_ADMIN, close: () => conn.disconnect() };
}

/** Sessions for the timeline operation (a fresh pool per measurement, so timelines start short). */
async function sessionPool(base, data) {
  const out = [];
  for (let i = 0; i < SESSIONS; i++) {
    out.push((await call(base, 'POST', '/api/sessions', { projectId: data.project.id, taskIds: [data.ids[i % data.ids.length]], name: `bench ${i}` })).body.id);
  }
  return out;
}

/** The autocannon request of one operation, each request on a random pre-loaded task / page. */
function requestOf(op, data, sessions) {
  const pid = data.project.id;
  switch (op) {
    case 'get':
      return { method: 'GET', setupRequest: (req) => ({ ...req, path: `/api/tasks/${pick(data.ids)}` }) };
    case 'list': {
      const starts = ['', ...data.cursors];
      return {
        method: 'GET',
        setupRequest: (req) => {
          const c = pick(starts);
          return { ...req, path: `/api/tasks?projectId=${pid}&limit=${PAGE_LIMIT}${c ? `&cursor=${c}` : ''}` };
        },
      };
    }
    case 'patch':
      return {
        method: 'PATCH',
        body: JSON.stringify({ description: 'patched by the HTTP bench', priority: 'high' }),
        setupRequest: (req) => ({ ...req, path: `/api/tasks/${pick(data.ids)}` }),
      };
    case 'timeline':
      return {
        method: 'POST',
        setupRequest: (req) => ({
          ...req,
          path: `/api/tasks/${pick(data.ids)}/timeline`,
          body: JSON.stringify({ message: 'progress reported by the HTTP bench', sessionId: pick(sessions), type: 'progress' }),
        }),
      };
    case 'create':
      return { method: 'POST', path: '/api/tasks', body: JSON.stringify({ projectId: pid, title: 'task created by the HTTP bench' }) };
    default:
      throw new Error(`unknown op ${op}`);
  }
}

/**
 * Gives each request of `request` the credential and client address of a random one of `clients`
 * (`{ key, ip }`: `X-API-Key`, `X-Forwarded-For`), so per-principal and per-IP limits see many clients.
 */
function withClients(request, clients) {
  if (!clients?.length) return request;
  const setup = request.setupRequest ?? ((req) => req);
  return {
    ...request,
    setupRequest: (req) => {
      const c = pick(clients);
      const r = setup({ ...req, path: req.path ?? request.path });
      return { ...r, headers: { ...r.headers, 'x-api-key': c.key, 'x-forwarded-for': c.ip } };
    },
  };
}

/**
 * Measures one operation against `base`: HTTP_WARMUP s discarded, then HTTP_SECONDS s with
 * HTTP_CONNECTIONS connections. `pids` (optional, name → pid) are sampled for CPU use: `cpu` in % of
 * one core, `cpuUs` in µs of CPU (user + system, /proc/<pid>/stat) per request completed. `clients`
 * (optional, `{ key, ip }[]`) spreads the requests over API keys and client addresses; `setupBase`
 * is where the timeline's sessions are created (default `base`).
 */
export async function measureOp(base, op, data, pids = {}, { seconds = HTTP_SECONDS, warmup = HTTP_WARMUP, clients, setupBase = base } = {}) {
  const sessions = op === 'timeline' ? await sessionPool(setupBase, data) : [];
  const opts = { url: base, connections: HTTP_CONNECTIONS, timeout: 30, headers: jsonHeaders(), requests: [withClients(requestOf(op, data, sessions), clients)] };
  const warm = warmup > 0 ? await autocannon({ ...opts, duration: warmup }) : { requests: { total: 0 } };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeCpuSeconds(pid)]));
  const self0 = process.cpuUsage();
  const machine0 = machineCpuSeconds();
  const t0 = performance.now();
  const r = await autocannon({ ...opts, duration: seconds });
  const wall = (performance.now() - t0) / 1000;
  const cpuUsed = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeCpuSeconds(pid) - cpu0[k]]));
  const cpu = Object.fromEntries(Object.entries(cpuUsed).map(([k, used]) => [k, Math.round((100 * used) / wall)]));
  const cpuUs = Object.fromEntries(Object.entries(cpuUsed).map(([k, used]) => [k, r.requests.total ? Math.round((used * 1e6) / r.requests.total) : NaN]));
  const self = process.cpuUsage(self0);
  cpu.bench = Math.round((self.user + self.system) / 1e4 / wall);
  cpu.machine = Math.round((100 * (machineCpuSeconds() - machine0)) / wall);
  const row = {
    op,
    n: data.n,
    rps: Math.round(r.requests.total / r.duration),
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    cpu,
    cpuUs,
    load: loadAverage(),
  };
  // a new session starts with 2 entries (session_started, task_started)
  if (op === 'timeline') row.entriesPerSession = Math.round(2 + (warm.requests.total + r.requests.total) / sessions.length);
  return row;
}

/** The 1-minute load average (/proc/loadavg), to tell a busy machine in the results. */
function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/**
 * An API replica with `MAESTRO_AUTH=required` and the rate limits at their defaults (TRUST_PROXY
 * loopback, so each bench client's X-Forwarded-For is its address), on the same Redis and prefix as
 * the others (it sees the same data), plus AUTH_CLIENTS users each with an API key, made with the
 * store code in this process (`direct`). `addToProject(projectId)` makes every client an editor there.
 */
async function startAuthReplica(redisUrl, dir, direct) {
  const { RATE_LIMIT_PER_MINUTE: _ip, RATE_LIMIT_PRINCIPAL_PER_MINUTE: _principal, ...apiEnv } = benchApiEnv(redisUrl, dir, { TRUST_PROXY: 'loopback' });
  const replica = await startQuietApi({ ...apiEnv, MAESTRO_AUTH: 'required', MAESTRO_CREDENTIALS_FILE: join(dir, 'credentials'), NODE_ID: 'api-auth', ...AUTH_ENV });
  const identity = direct.stores.identity;
  const clients = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < AUTH_CLIENTS) {
        const i = next++;
        const user = await identity.register(`bench${i}-${Date.now()}@example.com`, 'bench password 12345', `bench ${i}`);
        const key = (await identity.createApiKey(user.id, { name: 'bench' })).key;
        clients.push({ userId: user.id, key, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
      }
    }),
  );
  const addToProject = async (projectId) => {
    for (const c of clients) await identity.setMember(projectId, c.userId, 'editor');
  };
  return { replica, clients, addToProject };
}

const fmt = (x) => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(1)) : String(x));

/** `npm run bench -- http [--url <base>]`. */
export async function runHttpBench({ url } = {}) {
  const started = performance.now();
  const rows = [];
  const preloads = [];
  let stopAll = async () => {};
  let topologies;
  let pids = {};
  let direct;
  let setupBase;
  if (url) {
    topologies = [{ name: url.replace(/\/+$/, ''), base: url.replace(/\/+$/, '') }];
  } else {
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-http-'));
    const apiEnv = benchApiEnv(redis.url, dir, { TRUST_PROXY: 'loopback' });
    const replicas = [];
    for (let i = 0; i < 2; i++) replicas.push(await startQuietApi({ ...apiEnv, NODE_ID: `api${i + 1}` }));
    const nginx = await startNginx(replicas.map((r) => r.port));
    direct = await directStores(redis.url, 'bench:');
    const auth = TOPOLOGIES.includes('auth') ? await startAuthReplica(redis.url, dir, direct) : undefined;
    pids = { api1: replicas[0].child.pid, api2: replicas[1].child.pid, ...(auth ? { apiAuth: auth.replica.child.pid } : {}), nginx: nginx.child.pid, redis: redis.pid };
    topologies = [
      { key: 'cluster', name: '2 replicas + nginx', base: nginx.base },
      { key: 'replica', name: '1 replica, direct', base: replicas[0].base, pid: 'api1' },
      ...(auth ? [{ key: 'auth', name: '1 replica, auth + API key', base: auth.replica.base, pid: 'apiAuth', clients: auth.clients, prepare: auth.addToProject }] : []),
    ].filter((t) => TOPOLOGIES.includes(t.key));
    setupBase = replicas[0].base;
    stopAll = async () => {
      direct.close();
      await nginx.stop();
      await Promise.all([...replicas.map((r) => r.stop()), auth?.replica.stop()]);
      redis.stop();
    };
  }
  try {
    for (const n of HTTP_DATASETS) {
      const data = await prepareDataset(setupBase ?? topologies[0].base, n, direct);
      preloads.push({ n, seconds: data.preloadSeconds, total: data.total, cursors: data.cursors.length, via: data.via });
      for (const t of topologies) await t.prepare?.(data.project.id);
      for (const op of HTTP_OPS) {
        for (const t of topologies) {
          const row = { topology: t.name, replicaUs: undefined, ...(await measureOp(t.base, op, data, pids, { clients: t.clients, setupBase: setupBase ?? t.base })) };
          if (t.pid) row.replicaUs = row.cpuUs[t.pid];
          console.log(JSON.stringify(row));
          rows.push(row);
        }
      }
    }
  } finally {
    await stopAll();
  }
  const totalSeconds = (performance.now() - started) / 1000;
  writeResults({ url, rows, preloads, topologies, totalSeconds });
  return rows;
}

function writeResults({ url, rows, preloads, topologies, totalSeconds }) {
  const local = url
    ? ''
    : ` BENCH_HTTP_TOPOLOGIES=${TOPOLOGIES.join(',')} BENCH_HTTP_AUTH_CLIENTS=${AUTH_CLIENTS}${HTTP_OPS === OPS ? '' : ` BENCH_HTTP_OPS=${HTTP_OPS.join(',')}`}${env.BENCH_HTTP_AUTH_ENV ? ` BENCH_HTTP_AUTH_ENV='${env.BENCH_HTTP_AUTH_ENV}'` : ''}`;
  const cmd = `BENCH_HTTP_SECONDS=${HTTP_SECONDS} BENCH_HTTP_WARMUP=${HTTP_WARMUP} BENCH_HTTP_CONNECTIONS=${HTTP_CONNECTIONS} BENCH_HTTP_DATASETS=${HTTP_DATASETS.join(',')} BENCH_HTTP_PAGE_LIMIT=${PAGE_LIMIT} BENCH_HTTP_SESSIONS=${SESSIONS}${local} npm run bench -- http${url ? ` --url ${url}` : ''}`;
  const opName = {
    get: 'get task (`GET /api/tasks/:id`)',
    list: `list one page (\`GET /api/tasks?projectId=…&limit=${PAGE_LIMIT}[&cursor=…]\`)`,
    patch: 'patch task (`PATCH /api/tasks/:id`)',
    timeline: 'timeline entry (`POST /api/tasks/:id/timeline`)',
    create: 'create task (`POST /api/tasks`)',
  };
  const preloadTable = `| tasks pre-loaded | time (s) | tasks/s | X-Total-Count after | page cursors collected |
|---|---|---|---|---|
${preloads.map((p) => `| ${p.n} | ${p.seconds.toFixed(1)} | ${Math.round(p.n / p.seconds)} | ${p.total ?? '–'} | ${p.cursors} |`).join('\n')}`;
  const errs = (r) => (r.non2xx || r.errors ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : '');
  let table;
  if (url) {
    table = `| operation | tasks | req/s | p50 / p99 (ms) |
|---|---|---|---|
${rows.map((r) => `| ${opName[r.op]} | ${r.n} | ${r.rps}${errs(r)} | ${fmt(r.p50)} / ${fmt(r.p99)} |`).join('\n')}`;
  } else {
    const byKey = Object.fromEntries(topologies.map((t) => [t.key, t.name]));
    const find = (key, op, n) => rows.find((r) => r.op === op && r.n === n && r.topology === byKey[key]);
    const parts = [];
    if (byKey.cluster && byKey.replica) {
      const lines = [];
      for (const n of HTTP_DATASETS) {
        for (const op of HTTP_OPS) {
          const a = find('cluster', op, n);
          const b = find('replica', op, n);
          lines.push(`| ${opName[op]} | ${n} | ${a.rps}${errs(a)} | ${fmt(a.p50)} / ${fmt(a.p99)} | ${b.rps}${errs(b)} | ${fmt(b.p50)} / ${fmt(b.p99)} | ${(a.rps / b.rps).toFixed(2)} |`);
        }
      }
      parts.push(`On ${machine().split(' ')[0]} cores the API replicas, nginx, Redis and autocannon share the CPU (see the CPU table below: the machine is saturated in every measurement), so the ratio 2 / 1 shows contention, not scale-out: a second replica only helps when the first one is not already competing with everything else for the same cores.

| operation | tasks | ${byKey.cluster}: req/s | p50 / p99 (ms) | ${byKey.replica}: req/s | p50 / p99 (ms) | ratio 2 / 1 |
|---|---|---|---|---|---|---|
${lines.join('\n')}`);
    }
    if (byKey.replica || byKey.auth) {
      const lines = [];
      const cell = (r) => (r ? `${r.rps}${errs(r)} | ${r.replicaUs} | ${fmt(r.load)}` : '– | – | –');
      for (const n of HTTP_DATASETS) {
        for (const op of HTTP_OPS) {
          const off = find('replica', op, n);
          const on = find('auth', op, n);
          lines.push(`| ${opName[op]} | ${n} | ${cell(off)} | ${cell(on)} | ${off && on ? (on.replicaUs / off.replicaUs).toFixed(2) : '–'} |`);
        }
      }
      parts.push(`Replica CPU per request: the CPU time (user + system, \`/proc/<pid>/stat\`) the one replica measured used during the measurement ÷ the requests it completed, in µs; the load average (1 min) when the measurement ended beside it. "auth off": \`MAESTRO_AUTH=disabled\`, rate limits off. "auth on": \`MAESTRO_AUTH=required\`, each request with the API key of one of ${AUTH_CLIENTS} users (each an editor of the project) and its own \`X-Forwarded-For\` (\`TRUST_PROXY=loopback\`), the rate limits at their defaults (\`RATE_LIMIT_PER_MINUTE\`, \`RATE_LIMIT_PRINCIPAL_PER_MINUTE\` 10,000), so the key lookup and both limiters run on every request without refusing any.

| operation | tasks | auth off: req/s | µs / request | load | auth on + API key: req/s | µs / request | load | on ÷ off |
|---|---|---|---|---|---|---|---|---|
${lines.join('\n')}`);
    }
    const cols = ['api1', 'api2', ...(byKey.auth ? ['apiAuth'] : []), 'nginx', 'redis', 'bench'];
    parts.push(`CPU use during each measurement, % of one core (the machine has ${machine().split(' ')[0]} cores; "bench" is this process, autocannon included${byKey.auth ? '; apiAuth is the replica with authentication on' : ''}):

| operation | tasks | topology | ${cols.join(' | ')} | whole machine | other processes | load |
|---|---|---|${cols.map(() => '---|').join('')}---|---|---|
${rows
  .map((r) => {
    const c = r.cpu;
    const other = c.machine - cols.reduce((sum, k) => sum + c[k], 0);
    return `| ${r.op} | ${r.n} | ${r.topology} | ${cols.map((k) => c[k]).join(' | ')} | ${c.machine} | ${Math.max(0, other)} | ${fmt(r.load)} |`;
  })
  .join('\n')}`);
    table = parts.join('\n\n');
  }
  const timeline = rows.filter((r) => r.op === 'timeline');
  // a run of only some topologies has a section of its own, so it does not replace the full run's
  const partial = !url && TOPOLOGIES.join(',') !== 'cluster,replica,auth';
  const title = url
    ? 'HTTP against a given URL (`npm run bench -- http --url …`)'
    : partial
      ? `HTTP, ${TOPOLOGIES.join(' + ')} only (\`BENCH_HTTP_TOPOLOGIES=${TOPOLOGIES.join(',')} npm run bench -- http\`)`
      : 'HTTP (`npm run bench -- http`)';
  writeSection(
    title,
    `Run ${new Date().toISOString()} on ${machine()}, ${versions()}; ${url ? `target ${url}` : 'Redis, the API replicas, nginx and the bench process (autocannon) share the machine'}. Whole run: ${(totalSeconds / 60).toFixed(1)} min.
Command: \`${cmd}\`

Each measurement: ${HTTP_WARMUP} s warm-up (discarded), then ${HTTP_SECONDS} s with ${HTTP_CONNECTIONS} connections (autocannon, HTTP/1.1 keep-alive, one request in flight per connection); every request picks a random pre-loaded task (and for lists a random page cursor out of those collected by walking the project once).${url ? '' : ' The cluster and "1 replica, direct": `MAESTRO_AUTH=disabled`, rate limits off (`RATE_LIMIT_PER_MINUTE=0`, `RATE_LIMIT_PRINCIPAL_PER_MINUTE=0`); every replica `LOG_LEVEL=info` (one log line per request, written to /dev/null).'} Reads run before creates, so they see exactly the pre-loaded count; the timeline operation appends to a fresh pool of ${SESSIONS} sessions per measurement (entries per session at the end: ${timeline.map((r) => r.entriesPerSession).join(', ')}).

Pre-load, ${PRELOAD_CONNECTIONS} creates in flight, ${url ? `\`POST /api/tasks\` through ${url}` : 'by the store code of `POST /api/tasks` (`dist/shared/stores`, the same Lua commit per task) run in the bench process against the cluster\'s Redis'}:

${preloadTable}

${table}`,
  );
}
