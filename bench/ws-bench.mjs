// WebSocket fan-out benchmark (issues "Realtime" and 12): 2 API replicas, N clients spread over them,
// writes at a steady rate through both replicas; reports delivered events/s, latency (write
// acknowledged → received, write sent → received), events lost, replica RSS.
// The mix (issue 12): half the writes are timeline appends to long sessions (BENCH_WS_LONG_ENTRIES,
// 10,000 entries each, in a project of their own), the other half task creations. Clients side by
// side: with deltas (every event, appends as `session:timeline_added`), without deltas watching the
// task project only (the original UI on a busy cluster), and a few without deltas watching everything
// (they get whole, coalesced `session:updated`s of the long sessions).
import { machine, percentile, startClientThreads, startProcess, startRedis, writeSection } from './lib.mjs';

const CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000);
/** Write rates to run, writes (= events) per second in total, e.g. `50,200`. */
const RATES = (process.env.BENCH_WS_RATES ?? '50,200').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_WS_SECONDS ?? 20);
const THREADS = Number(process.env.BENCH_WS_THREADS ?? 4);
const LONG_SESSIONS = Number(process.env.BENCH_WS_LONG_SESSIONS ?? 2);
const LONG_ENTRIES = Number(process.env.BENCH_WS_LONG_ENTRIES ?? 10_000);
/** Clients without deltas that watch every project, long sessions included. */
const WATCHERS = Number(process.env.BENCH_WS_WATCHERS ?? 10);

const now = () => performance.timeOrigin + performance.now();
const GROUPS = { delta: 'with deltas (all projects)', legacy: 'without deltas (task project)', watcher: 'without deltas (all projects)' };

/** Runs one configuration per rate and writes the table to bench/RESULTS.md. */
export async function runWsBench() {
  const rows = [];
  for (const rate of RATES) rows.push(await runOnce(rate));
  const f = (x) => x.toFixed(1);
  writeSection(
    'WebSocket fan-out (`npm run bench -- ws`)',
    `Run ${new Date().toISOString()} on ${machine()}; the bench process (writer + ${THREADS} client threads), 2 API replicas and Redis share the machine.
Command: \`BENCH_WS_CLIENTS=${CLIENTS} BENCH_WS_RATES=${RATES.join(',')} BENCH_WS_SECONDS=${SECONDS} BENCH_WS_THREADS=${THREADS} BENCH_WS_LONG_SESSIONS=${LONG_SESSIONS} BENCH_WS_LONG_ENTRIES=${LONG_ENTRIES} BENCH_WS_WATCHERS=${WATCHERS} npm run bench -- ws\`

Half the writes are task creations (project T), half timeline appends to ${LONG_SESSIONS} sessions of ${LONG_ENTRIES} entries and more (project L). Clients: ${rows[0]?.groups.delta} with deltas watching everything, ${rows[0]?.groups.legacy} without deltas watching T (the original UI), ${WATCHERS} without deltas watching everything (whole, coalesced \`session:updated\` of the long sessions).

| writes/s | writes acked / failed | events delivered | delivered/s | task:created ack→received p50 / p99 (ms), with deltas | …, without deltas | timeline_added ack→received p50 / p99 (ms) | events lost | whole session:updated per watcher per long session | watchers' last update current | replica RSS (MiB) |
|---|---|---|---|---|---|---|---|---|---|---|
${rows
  .map(
    (r) =>
      `| ${r.rate} | ${r.writes} / ${r.failedWrites} | ${r.delivered} | ${r.deliveredPerSecond} | ${f(r.task.delta.p50)} / ${f(r.task.delta.p99)} | ${f(r.task.legacy.p50)} / ${f(r.task.legacy.p99)} | ${f(r.added.p50)} / ${f(r.added.p99)} | ${r.lost} | ${r.wholePerWatcher} (appends per long session: ${r.appendsPerSession}) | ${r.watchersCurrent} | ${r.rss.join(', ')} |`,
  )
  .join('\n')}

"ack→received": from the writer receiving its 2xx to a client receiving the event (negative when the
event arrives first: events are published inside the write's atomic step, before the response).
"events lost" counts, over every acknowledged write, the clients that should have received its event
and never did (task:created: every client; timeline_added: every client with deltas). "current": the
last whole session each watcher got holds the last entry appended to it.`,
  );
  return rows;
}

async function runOnce(rate) {
  const redis = await startRedis();
  const prefix = 'bench:';
  const replicas = await Promise.all([0, 1].map(() => startProcess('api/server.js', { REDIS_URL: redis.url, MAESTRO_REDIS_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0', MAX_CONNECTIONS_PER_IP: '1000000' })));
  let failedWrites = 0;
  const call = async (base, method, path, body) => {
    const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
    return res.json();
  };
  const tasks = await call(replicas[0].base, 'POST', '/api/v1/projects', { name: 'bench tasks' });
  const long = await call(replicas[0].base, 'POST', '/api/v1/projects', { name: 'bench long sessions' });
  const sessions = [];
  for (let i = 0; i < LONG_SESSIONS; i++) {
    const s = await call(replicas[0].base, 'POST', '/api/v1/sessions', { projectId: long.id, taskIds: [], name: `long ${i}` });
    for (let done = 0; done < LONG_ENTRIES; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, LONG_ENTRIES - done) }, (_, j) => ({ type: 'progress', message: `preloaded ${done + j}` }));
      await call(replicas[0].base, 'PATCH', `/api/v1/sessions/${s.id}`, { timeline: batch });
    }
    sessions.push(s.id);
  }

  // Clients live in worker threads, half on each replica, so that receiving does not stall the
  // writer's clock.
  const rest = CLIENTS - WATCHERS;
  const urls = Array.from({ length: CLIENTS }, (_, i) => {
    const ws = replicas[i % 2].base.replace('http', 'ws');
    if (i < WATCHERS) return { url: `${ws}/`, group: 'watcher' };
    return (i - WATCHERS) % 2 === 0 ? { url: `${ws}/?deltas=1`, group: 'delta' } : { url: `${ws}/?projectIds=${tasks.id}`, group: 'legacy' };
  });
  const groups = { delta: Math.ceil(rest / 2), legacy: Math.floor(rest / 2), watcher: WATCHERS };
  const workers = await startClientThreads(urls, THREADS);

  // Steady writes through both replicas: task creations and appends, alternately.
  const sentTasks = new Map(); // taskId → { sentAt, ackAt }
  const sentAppends = new Map(); // message → { sentAt, ackAt }
  const lastAppend = new Map(); // sessionId → message
  const appends = new Map(sessions.map((s) => [s, 0]));
  const interval = 1000 / rate;
  const start = performance.now();
  let n = 0;
  const inflight = [];
  while (performance.now() - start < SECONDS * 1000) {
    const wait = start + n * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sentAt = now();
    const base = replicas[n % 2].base;
    if (n % 2 === 0) {
      inflight.push(call(base, 'POST', '/api/v1/tasks', { projectId: tasks.id, title: `b${n}` }).then((t) => sentTasks.set(t.id, { sentAt, ackAt: now() }), () => failedWrites++));
    } else {
      const sid = sessions[(n >> 1) % sessions.length];
      const message = `a${n}`;
      appends.set(sid, appends.get(sid) + 1);
      lastAppend.set(sid, message);
      inflight.push(call(base, 'POST', `/api/v1/sessions/${sid}/timeline`, { message }).then(() => sentAppends.set(message, { sentAt, ackAt: now() }), () => failedWrites++));
    }
    n++;
  }
  await Promise.all(inflight);
  const writeSeconds = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // let the last events (and coalesced updates) arrive

  const received = { delta: new Map(), legacy: new Map(), watcher: new Map() };
  const wholes = [];
  let delivered = 0;
  for (const w of workers) {
    const rep = await new Promise((resolve) => {
      w.on('message', (m) => m.type === 'report' && resolve(m));
      w.postMessage('report');
    });
    for (const [, c] of rep.delivered) delivered += c;
    for (const [g, entries] of rep.received) {
      for (const [id, times] of entries) {
        const arr = received[g].get(id);
        if (arr) arr.push(...times);
        else received[g].set(id, times);
      }
    }
    for (const [, perSession] of rep.wholes) wholes.push(...perSession);
    await w.terminate();
  }

  const latencies = (sent, group, expected) => {
    const fromAck = [];
    let lost = 0;
    for (const [id, { ackAt }] of sent) {
      const got = received[group].get(id) ?? [];
      lost += expected - got.length;
      for (const t of got) fromAck.push(t - ackAt);
    }
    fromAck.sort((a, b) => a - b);
    return { p50: percentile(fromAck, 50), p99: percentile(fromAck, 99), lost };
  };
  const taskDelta = latencies(sentTasks, 'delta', groups.delta);
  const taskLegacy = latencies(sentTasks, 'legacy', groups.legacy);
  const taskWatcher = latencies(sentTasks, 'watcher', groups.watcher);
  const added = latencies(sentAppends, 'delta', groups.delta);
  const perWatcher = wholes.length ? wholes.reduce((a, [, s]) => a + s.count, 0) / wholes.length : 0;
  const current = wholes.filter(([key, s]) => s.last.includes(`"message":"${lastAppend.get(key.slice(key.indexOf('#') + 1))}"`)).length;
  const rss = await Promise.all(replicas.map(async (r) => (await (await fetch(`${r.base}/health?deep=1`)).json()).memory.rssBytes));
  for (const r of replicas) r.stop();
  redis.stop();

  const result = {
    rate,
    groups,
    writes: sentTasks.size + sentAppends.size,
    failedWrites,
    delivered,
    deliveredPerSecond: Math.round(delivered / writeSeconds),
    task: { delta: taskDelta, legacy: taskLegacy },
    added,
    lost: taskDelta.lost + taskLegacy.lost + taskWatcher.lost + added.lost,
    wholePerWatcher: perWatcher.toFixed(1),
    appendsPerSession: Math.round([...appends.values()].reduce((a, b) => a + b, 0) / Math.max(1, appends.size)),
    watchersCurrent: `${current} of ${wholes.length}`,
    rss: rss.map((b) => (b / 2 ** 20).toFixed(0)),
  };
  console.log(JSON.stringify({ ...result, groupsText: GROUPS }));
  return result;
}
