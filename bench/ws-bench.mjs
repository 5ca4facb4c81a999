// WebSocket fan-out benchmark (issue "Realtime"): 2 API replicas, N clients spread over them,
// writes at a steady rate through both replicas; reports delivered events/s, latency
// (write acknowledged → received, write sent → received), events lost, replica RSS.
import { machine, percentile, startClientThreads, startProcess, startRedis, writeSection } from './lib.mjs';

const CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000);
/** Write rates to run, writes (= events) per second in total, e.g. `50,200`. */
const RATES = (process.env.BENCH_WS_RATES ?? '50,200').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_WS_SECONDS ?? 20);
const THREADS = Number(process.env.BENCH_WS_THREADS ?? 4);

const now = () => performance.timeOrigin + performance.now();

/** Runs one configuration per rate and writes the table to bench/RESULTS.md. */
export async function runWsBench() {
  const rows = [];
  for (const rate of RATES) rows.push(await runOnce(rate));
  writeSection(
    'WebSocket fan-out (`npm run bench -- ws`)',
    `Run ${new Date().toISOString()} on ${machine()}; the bench process (writer + ${THREADS} client threads), 2 API replicas and Redis share the machine.
Command: \`BENCH_WS_CLIENTS=${CLIENTS} BENCH_WS_RATES=${RATES.join(',')} BENCH_WS_SECONDS=${SECONDS} BENCH_WS_THREADS=${THREADS} npm run bench -- ws\`

| clients | writes/s | writes acked | writes failed | events delivered | delivered/s | ack→received p50 / p99 (ms) | sent→received p50 / p99 (ms) | events lost | replica RSS (MiB) |
|---|---|---|---|---|---|---|---|---|---|
${rows
  .map(
    (r) =>
      `| ${r.clients} | ${r.writesPerSecond} | ${r.writes} | ${r.failedWrites} | ${r.eventsDelivered} | ${r.deliveredPerSecond} | ${r.ackToReceivedMs.p50} / ${r.ackToReceivedMs.p99} | ${r.sentToReceivedMs.p50} / ${r.sentToReceivedMs.p99} | ${r.eventsLost} | ${r.replicaRssMiB.join(', ')} |`,
  )
  .join('\n')}

"ack→received": from the writer receiving its 2xx to a client receiving the event (negative when the
event arrives first: events are published inside the write's atomic step, before the response).
"sent→received" adds the HTTP request's own latency under this load. "events lost" counts, over every
acknowledged write, the clients that never received its event.`,
  );
  return rows;
}

async function runOnce(rate) {
  const redis = await startRedis();
  const prefix = 'bench:';
  const replicas = await Promise.all([0, 1].map(() => startProcess('api/server.js', { REDIS_URL: redis.url, MAESTRO_REDIS_PREFIX: prefix })));
  let failedWrites = 0;
  const post = async (base, path, body) => {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    return res.json();
  };
  const project = await post(replicas[0].base, '/api/v1/projects', { name: 'bench' });

  // Clients live in worker threads, half on each replica, so that receiving does not stall the
  // writer's clock.
  const urls = Array.from({ length: CLIENTS }, (_, i) => replicas[i % 2].base.replace('http', 'ws') + '/');
  const workers = await startClientThreads(urls, THREADS);

  // Steady writes through both replicas.
  const sent = new Map(); // taskId → { sentAt, ackAt }
  const interval = 1000 / rate;
  const start = performance.now();
  let n = 0;
  const inflight = [];
  while (performance.now() - start < SECONDS * 1000) {
    const wait = start + n * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const sentAt = now();
    inflight.push(
      post(replicas[n % 2].base, '/api/v1/tasks', { projectId: project.id, title: `b${n}` }).then(
        (t) => sent.set(t.id, { sentAt, ackAt: now() }),
        () => failedWrites++,
      ),
    );
    n++;
  }
  await Promise.all(inflight);
  const writeSeconds = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // let the last events arrive

  const received = new Map();
  let delivered = 0;
  for (const w of workers) {
    const rep = await new Promise((resolve) => {
      w.on('message', (m) => m.type === 'report' && resolve(m));
      w.postMessage('report');
    });
    delivered += rep.delivered;
    for (const [id, times] of rep.received) {
      const arr = received.get(id);
      if (arr) arr.push(...times);
      else received.set(id, times);
    }
    await w.terminate();
  }

  const fromSent = [];
  const fromAck = [];
  let lost = 0;
  for (const [id, { sentAt, ackAt }] of sent) {
    const got = received.get(id) ?? [];
    lost += CLIENTS - got.length;
    for (const t of got) {
      fromSent.push(t - sentAt);
      fromAck.push(t - ackAt);
    }
  }
  fromSent.sort((a, b) => a - b);
  fromAck.sort((a, b) => a - b);
  const rss = await Promise.all(replicas.map(async (r) => (await (await fetch(`${r.base}/health?deep=1`)).json()).memory.rssBytes));
  for (const r of replicas) r.stop();
  redis.stop();

  const f = (x) => x.toFixed(1);
  const result = {
    clients: CLIENTS,
    writesPerSecond: rate,
    writes: sent.size,
    failedWrites,
    eventsDelivered: delivered,
    deliveredPerSecond: Math.round(delivered / writeSeconds),
    ackToReceivedMs: { p50: f(percentile(fromAck, 50)), p99: f(percentile(fromAck, 99)) },
    sentToReceivedMs: { p50: f(percentile(fromSent, 50)), p99: f(percentile(fromSent, 99)) },
    eventsLost: lost,
    replicaRssMiB: rss.map((b) => (b / 2 ** 20).toFixed(0)),
  };
  console.log(JSON.stringify(result));
  return result;
}
