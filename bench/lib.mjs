// Shared helpers for the benchmarks: throwaway Redis and API processes on loopback, percentiles,
// and writing a section of bench/RESULTS.md.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a redis-server of our own (never the machine's) on a free port. */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'maestro-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop: () => child.kill('SIGKILL') };
}

/** Starts `node dist/<script>` with env; resolves with its port once it logs that it listens. */
export function startProcess(script, env) {
  const child = spawn(process.execPath, [join(root, 'dist', script)], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MAESTRO_AUTH: 'disabled', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const e = JSON.parse(line);
        if (typeof e.port === 'number' && String(e.msg).includes('listening')) {
          clearTimeout(t);
          resolve({ child, port: e.port, base: `http://127.0.0.1:${e.port}`, stop: () => child.kill('SIGKILL') });
        }
      } catch {
        /* not JSON */
      }
    });
  });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function machine() {
  const cpu = cpus();
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').find((x) => x.startsWith('v='));
  return `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Redis ${redis?.slice(2) ?? '?'}`;
}

/** Replaces (or appends) the `## <title>` section of bench/RESULTS.md with `body`. */
export function writeSection(title, body) {
  const file = join(root, 'bench', 'RESULTS.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\nWritten by `npm run bench`; each section is replaced when its bench runs again.\n';
  const header = `## ${title}`;
  const start = text.indexOf(header);
  const section = `${header}\n\n${body.trim()}\n`;
  if (start < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', start + header.length);
    text = text.slice(0, start) + section + (next < 0 ? '' : `\n${text.slice(next + 1)}`);
  }
  writeFileSync(file, text.trimEnd() + '\n');
}

/** Versions of the pieces a bench runs on: Node, Redis, nginx, autocannon. */
export function versions() {
  const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  const nginxV = /nginx\/(\S+)/.exec(`${nginx.stderr ?? ''}${nginx.stdout ?? ''}`)?.[1] ?? 'not found';
  let autocannonV = '?';
  try {
    autocannonV = JSON.parse(readFileSync(join(root, 'node_modules/autocannon/package.json'), 'utf8')).version;
  } catch {
    /* not installed */
  }
  return `nginx ${nginxV}, autocannon ${autocannonV}`;
}

/**
 * Starts an API replica on a given free port with its log discarded (so the bench process does not
 * parse a log line per request); resolves once `/ready` answers 200. With `BENCH_CPU_PROF=<dir>` it
 * runs under `node --cpu-prof` and `stop()` ends it with SIGTERM, so the profile is written to
 * `<dir>` (named after `env.NODE_ID`) when it exits.
 */
export async function startQuietApi(env) {
  const port = await freePort();
  const profDir = process.env.BENCH_CPU_PROF;
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${env.NODE_ID ?? 'api'}-${port}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist', 'api/server.js')], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MAESTRO_AUTH: 'disabled', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`API replica exited (${child.exitCode})`);
    const ok = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error('API replica did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () => {
    if (!profDir) return child.kill('SIGKILL');
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  return { child, port, base, stop };
}

/** Starts nginx in front of `apiPorts` with the configuration of `npm run cluster` (dist/local-cluster.js). */
export async function startNginx(apiPorts) {
  const { nginxConf } = await import(join(root, 'dist', 'local-cluster.js'));
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'maestro-bench-nginx-'));
  writeFileSync(join(prefix, 'nginx.conf'), nginxConf(port, apiPorts, prefix));
  const child = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 100) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  // SIGTERM: nginx's fast shutdown, the master stops its worker (SIGKILL would orphan the worker)
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { child, port, base, stop };
}

/** Resident set size of a process, MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far (/proc/<pid>/stat; 100 ticks per second). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of a process and its live descendants (e.g. nginx's master and worker). */
export function treeCpuSeconds(pid) {
  let total = 0;
  try {
    total = cpuSeconds(pid);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const kid of kids ? kids.split(' ') : []) total += treeCpuSeconds(Number(kid));
    }
  } catch {
    /* exited meanwhile */
  }
  return total;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait). */
export function machineCpuSeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Starts `threads` worker threads of ws-bench-clients.mjs holding WebSocket clients to `urls` (split
 * round-robin); resolves with the workers once every thread reports its clients connected.
 */
export async function startClientThreads(urls, threads) {
  const { Worker } = await import('node:worker_threads');
  const workers = [];
  for (let t = 0; t < threads; t++) {
    const w = new Worker(new URL('./ws-bench-clients.mjs', import.meta.url), { workerData: { urls: urls.filter((_, i) => i % threads === t) } });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    workers.push(w);
  }
  return workers;
}

/**
 * Environment of the API replicas a local bench starts (rate limits off, dirs under `dir`; the
 * per-IP connection cap raised: every bench client connects from 127.0.0.1, and the memory bench
 * holds 1,000 WebSockets on one replica next to its HTTP connections).
 */
export function benchApiEnv(redisUrl, dir, extra = {}) {
  return {
    REDIS_URL: redisUrl,
    MAESTRO_REDIS_PREFIX: 'bench:',
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
    MAX_CONNECTIONS_PER_IP: '1000000',
    SESSION_DIR: join(dir, 'sessions'),
    DATA_DIR: join(dir, 'data'),
    METRICS_PORT: '0',
    ...extra,
  };
}
