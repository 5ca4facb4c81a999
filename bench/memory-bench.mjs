// Memory benchmark (issue 7): an API replica's RSS must not grow with the data (replicas are
// stateless; Redis holds everything). For each dataset a loader replica pre-loads the tasks, then a
// fresh replica is measured: idle after a settle period, after a read workload touching the data
// (random task gets and random pages), and with WebSocket clients connected.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HTTP_CONNECTIONS, HTTP_DATASETS, directStores, measureOp, prepareDataset } from './http-bench.mjs';
import { benchApiEnv, machine, rssMiB, startClientThreads, startQuietApi, startRedis, versions, writeSection } from './lib.mjs';

const env = process.env;
const DATASETS = (env.BENCH_MEMORY_DATASETS ?? HTTP_DATASETS.join(',')).split(',').map(Number);
const SETTLE = Number(env.BENCH_MEMORY_SETTLE ?? 10);
const SECONDS = Number(env.BENCH_MEMORY_SECONDS ?? 10);
const CLIENTS = Number(env.BENCH_MEMORY_WS_CLIENTS ?? 1000);
const THREADS = Number(env.BENCH_WS_THREADS ?? 4);

const settle = () => new Promise((r) => setTimeout(r, SETTLE * 1000));

/** { rss, heap } in MiB: VmRSS from /proc, V8 heap used from the replica's `/health?deep=1`. */
async function memory(api) {
  const rss = rssMiB(api.child.pid);
  const health = await (await fetch(`${api.base}/health?deep=1`)).json();
  return { rss, heap: health.memory.heapUsedBytes / 2 ** 20 };
}

async function connectClients(base) {
  const urls = Array.from({ length: CLIENTS }, () => base.replace('http', 'ws') + '/');
  const workers = await startClientThreads(urls, THREADS);
  return async () => {
    for (const w of workers) {
      await new Promise((resolve) => {
        w.on('message', (m) => m.type === 'report' && resolve());
        w.postMessage('report');
      });
      await w.terminate();
    }
  };
}

export async function runMemoryBench() {
  const started = performance.now();
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-memory-'));
  const apiEnv = benchApiEnv(redis.url, dir);
  const rows = [];
  const loader = await startQuietApi(apiEnv);
  const direct = await directStores(redis.url, 'bench:');
  try {
    for (const n of DATASETS) {
      const data = await prepareDataset(loader.base, n, direct);
      const api = await startQuietApi(apiEnv);
      try {
        const row = { n, started: await memory(api) };
        await settle();
        row.idle = await memory(api);
        const get = await measureOp(api.base, 'get', data, {}, { seconds: SECONDS, warmup: 0 });
        const list = await measureOp(api.base, 'list', data, {}, { seconds: SECONDS, warmup: 0 });
        row.reads = `${get.requests} gets + ${list.requests} pages`;
        row.peakAfterReads = await memory(api);
        await settle();
        row.afterReads = await memory(api);
        const disconnect = await connectClients(api.base);
        await settle();
        row.withClients = await memory(api);
        await disconnect();
        await settle();
        row.afterClients = await memory(api);
        console.log(JSON.stringify(row));
        rows.push(row);
      } finally {
        api.stop();
      }
    }
  } finally {
    direct.close();
    loader.stop();
    redis.stop();
  }
  const m = (x) => `${x.rss.toFixed(0)} (${x.heap.toFixed(0)})`;
  writeSection(
    'Memory of an API replica (`npm run bench -- memory`)',
    `Run ${new Date().toISOString()} on ${machine()}, ${versions()}. Whole run: ${((performance.now() - started) / 60000).toFixed(1)} min.
Command: \`BENCH_MEMORY_DATASETS=${DATASETS.join(',')} BENCH_MEMORY_SETTLE=${SETTLE} BENCH_MEMORY_SECONDS=${SECONDS} BENCH_MEMORY_WS_CLIENTS=${CLIENTS} BENCH_HTTP_CONNECTIONS=${HTTP_CONNECTIONS} npm run bench -- memory\`

Per dataset: the tasks are pre-loaded by the store code of \`POST /api/tasks\` run in the bench process (a loader replica serves the project creation and the cursor walk); then a **fresh** replica (the one measured, never used for the pre-load) is started; VmRSS of /proc/<pid>/status after start, after ${SETTLE} s idle, right after a read workload (${SECONDS} s of \`GET /api/tasks/:id\` on random pre-loaded tasks, then ${SECONDS} s of \`GET /api/tasks?projectId=…\` pages at random cursors, ${HTTP_CONNECTIONS} connections), ${SETTLE} s after it, with ${CLIENTS} WebSocket clients connected (${SETTLE} s after connecting), and ${SETTLE} s after they left. No forced GC: "settled" is whatever V8 keeps after ${SETTLE} s without load.

| tasks in project | after start | idle | reads done | right after reads | settled after reads | + ${CLIENTS} WS clients | after clients left |
|---|---|---|---|---|---|---|---|
${rows.map((r) => `| ${r.n} | ${m(r.started)} | ${m(r.idle)} | ${r.reads} | ${m(r.peakAfterReads)} | ${m(r.afterReads)} | ${m(r.withClients)} | ${m(r.afterClients)} |`).join('\n')}

RSS in MiB, V8 heap used in parentheses (MiB, includes garbage not yet collected).`,
  );
  return rows;
}
