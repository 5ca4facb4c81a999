/**
 * `npm run cluster`: the topology of docker-compose.yml as local processes on loopback — a
 * redis-server (AOF on), two API replicas, one worker and nginx as the load balancer (WebSocket
 * upgrades passed through). The way tests, benchmarks and people run "the deployment" on a machine
 * without Docker or Kubernetes. Needs `redis-server` and `nginx` on PATH (Debian packages).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isMain } from './shared/process-lifecycle.js';

/** The built entry points (dist/), also when this module runs from src/ under the test runner. */
const moduleDir = dirname(fileURLToPath(import.meta.url));
const here = moduleDir.endsWith(`${sep}src`) ? join(moduleDir, '..', 'dist') : moduleDir;

/** `n` distinct free TCP ports on 127.0.0.1 (all held open at once, so they cannot repeat). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.on('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Options of a local cluster; every port defaults to a free one. */
export interface LocalClusterOptions {
  /** nginx's port (the cluster's URL). */
  port?: number;
  redisPort?: number;
  apiPorts?: [number, number];
  /** Where Redis keeps its append-only file. */
  dataDir?: string;
  /** Extra environment for the API replicas and the worker. */
  env?: Record<string, string>;
  /** Print the processes' output (default: quiet). */
  verbose?: boolean;
}

/** A running local cluster. */
export interface LocalCluster {
  url: string;
  redisUrl: string;
  apiUrls: string[];
  processes: Record<string, ChildProcess>;
  stop(): Promise<void>;
}

function waitForLine(child: ChildProcess, match: (line: string) => boolean, what: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start`)), ms);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (match(line)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; throws naming `what` after `ms`. */
export async function waitForPort(port: number, what: string, ms = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not open port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The load balancer's proxy timeouts, in seconds (issue 13 item 6); deploy/nginx/nginx.conf has the
 * same values and says why each. A test may shorten them (e.g. `http: 3`) to see a frozen replica
 * skipped quickly; WebSockets keep `websocket` whatever `http` is.
 */
export interface ProxyTimeouts {
  /** `proxy_connect_timeout` everywhere: a replica not accepting within it is down (2). */
  connect: number;
  /** `proxy_read_timeout`/`proxy_send_timeout` of plain HTTP: above REQUEST_TIMEOUT_MS, 30 s (35). */
  http: number;
  /** The same for `POST …/sessions/spawn`: above SPAWN_WAIT_MS, 30 s, exempt from the request timeout (45). */
  spawn: number;
  /** The same for WebSocket upgrades and the open connections (3600; the server pings every 30 s). */
  websocket: number;
  /** Upstream `fail_timeout`: how long one failure keeps a replica out of rotation (10). */
  failTimeout: number;
}

/** The production values (deploy/nginx/nginx.conf). */
export const PROXY_TIMEOUTS: Readonly<ProxyTimeouts> = { connect: 2, http: 35, spawn: 45, websocket: 3600, failTimeout: 10 };

/**
 * `proxy_next_upstream_timeout` for a lane whose reads time out after `read` s: above connect + read,
 * so that a request whose first replica timed out is still passed to the other one.
 */
const retryWindow = (t: ProxyTimeouts, read: number) => read + t.connect + 3;

/**
 * `proxy_next_upstream_timeout` of WebSocket upgrades, seconds: an upgrade is passed to the other
 * replica after a quick failure (refused, connect timeout, 502), never after its hour-long read.
 */
const WS_RETRY_WINDOW = 10;

/**
 * The upstream, maps and server-level proxy settings and locations shared with deploy/nginx/nginx.conf
 * (test/ops/deploy-files.test.ts compares them directive by directive): which location proxies a
 * request (`$maestro_lane`: WebSocket upgrades; POSTs with an `Idempotency-Key`, spawn apart; PUT and
 * DELETE; the rest), each location's timeouts, and when a request is passed to the other replica:
 * GET/HEAD on connect errors, timeouts and 502 (a 503 is the API's own answer, Redis being shared: passed on, the replica kept in rotation); POST with a key also after it was sent
 * (`non_idempotent`); POST/PATCH without a key only before it was sent (nginx's rule); PUT/DELETE
 * never. Lanes are reached by an internal rewrite and proxy `$request_uri`, the target exactly as the
 * client sent it. Returns `{ http, server }`: text for the `http` block and for the `server` block.
 */
function proxyRouting(apiServers: string[], t: ProxyTimeouts): { http: string; server: string } {
  const lane = (name: string, read: number, nextUpstream: string, window?: number) => `    location = /.maestro-lb/${name} {
      internal;
      proxy_pass http://maestro_api$request_uri;
      proxy_read_timeout ${read}s;
      proxy_send_timeout ${read}s;
      proxy_next_upstream ${nextUpstream};${window === undefined ? '' : `\n      proxy_next_upstream_timeout ${window}s;`}
    }`;
  const http = `  upstream maestro_api {
    zone maestro_api 64k;
${apiServers.map((s) => `    server ${s} max_fails=1 fail_timeout=${t.failTimeout}s;`).join('\n')}
    keepalive 64;
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
  }
  map $http_upgrade $maestro_upgrading {
    default 1;
    ''      0;
  }
  map $http_idempotency_key $maestro_keyed {
    default 1;
    ''      0;
  }
  map "$maestro_upgrading:$request_method:$maestro_keyed:$uri" $maestro_lane {
    default                                    '';
    "~^1:"                                     websocket;
    "~*^0:POST:1:/api(/v1)?/auth(/|$)"         '';
    "~*^0:POST:1:/api(/v1)?/sessions/spawn$"   keyed-spawn;
    "~^0:POST:1:"                              keyed;
    "~^0:(PUT|DELETE):"                        unretried;
  }`;
  const server = `    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Request-Id $request_id;
    proxy_connect_timeout ${t.connect}s;
    proxy_next_upstream_tries 2;
    if ($maestro_lane) {
      rewrite ^ /.maestro-lb/$maestro_lane last;
    }
    location / {
      proxy_pass http://maestro_api;
      proxy_read_timeout ${t.http}s;
      proxy_send_timeout ${t.http}s;
      proxy_next_upstream error timeout http_502;
      proxy_next_upstream_timeout ${retryWindow(t, t.http)}s;
    }
    location ~* ^/api(/v1)?/sessions/spawn$ {
      proxy_pass http://maestro_api;
      proxy_read_timeout ${t.spawn}s;
      proxy_send_timeout ${t.spawn}s;
      proxy_next_upstream error timeout http_502;
      proxy_next_upstream_timeout ${retryWindow(t, t.spawn)}s;
    }
${lane('websocket', t.websocket, 'error timeout http_502', WS_RETRY_WINDOW)}
${lane('keyed', t.http, 'error timeout http_502 non_idempotent', retryWindow(t, t.http))}
${lane('keyed-spawn', t.spawn, 'error timeout http_502 non_idempotent', retryWindow(t, t.spawn))}
${lane('unretried', t.http, 'off')}`;
  return { http, server };
}

/** Options of `nginxConf`. */
export interface NginxConfOptions {
  /** `worker_connections` (4096); each proxied client uses two. */
  workerConnections?: number;
  /** `error_log stderr <level>` (warn). */
  errorLog?: string;
  /** Proxy timeouts, seconds, over PROXY_TIMEOUTS (the production values). */
  timeouts?: Partial<ProxyTimeouts>;
}

/**
 * The nginx configuration of the load balancer on 127.0.0.1:`port` in front of `apiPorts`, with its
 * temp files under `prefix`: the proxy routing of deploy/nginx/nginx.conf (`proxyRouting`: upstream
 * with `max_fails=1 fail_timeout` and keep-alive, WebSocket, keyed-POST, spawn and PUT/DELETE lanes
 * with their own timeouts and retry rules, `Host`, `X-Forwarded-For`, `X-Request-Id`) and its client
 * timeouts (headers and body 20 s, send 60 s, keep-alive 65 s). Not its connection caps
 * (`limit_conn`): every client here is 127.0.0.1, and the fault suite holds 1,000 WebSockets through
 * it. `workerConnections` (4096) bounds the clients it holds (each proxied client uses two); tests
 * with 1,000 WebSocket clients raise it; `timeouts` override PROXY_TIMEOUTS (seconds).
 */
export function nginxConf(port: number, apiPorts: number[], prefix: string, opts: NginxConfOptions = {}): string {
  const connections = opts.workerConnections ?? 4096;
  const routing = proxyRouting(
    apiPorts.map((p) => `127.0.0.1:${p}`),
    { ...PROXY_TIMEOUTS, ...opts.timeouts },
  );
  return `daemon off;
worker_processes 1;
worker_rlimit_nofile ${connections * 2};
error_log stderr ${opts.errorLog ?? 'warn'};
pid ${prefix}/nginx.pid;
events { worker_connections ${connections}; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${routing.http}
  client_header_timeout 20s;
  client_body_timeout 20s;
  send_timeout 60s;
  keepalive_timeout 65s;
  reset_timedout_connection on;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    client_max_body_size 2m;
${routing.server}
  }
}
`;
}

/** Starts Redis, two API replicas, a worker and nginx; resolves when all answer. */
export async function startLocalCluster(o: LocalClusterOptions = {}): Promise<LocalCluster> {
  for (const bin of ['redis-server', 'nginx']) {
    if (spawnSync(bin, [bin === 'nginx' ? '-v' : '--version'], { stdio: 'ignore' }).error) throw new Error(`${bin} is not on PATH (apt-get install ${bin === 'nginx' ? 'nginx-light' : 'redis-server'})`);
  }
  const free = await freePorts(4);
  const port = o.port ?? free[0]!;
  const redisPort = o.redisPort ?? free[1]!;
  const apiPorts = o.apiPorts ?? [free[2]!, free[3]!];
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'maestro-cluster-'));
  mkdirSync(dataDir, { recursive: true });
  const stdio = o.verbose ? 'inherit' : 'ignore';
  const processes: Record<string, ChildProcess> = {};
  processes.redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dataDir, '--appendonly', 'yes', '--save', ''], { stdio });
  await waitForPort(redisPort, 'redis-server');
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const url = `http://127.0.0.1:${port}`;
  const env = { ...process.env, REDIS_URL: redisUrl, HOST: '127.0.0.1', SERVER_URL: url, SESSION_DIR: join(dataDir, 'sessions'), MAESTRO_CLI_PATH: join(here, 'cli', 'index.js'), TRUST_PROXY: 'loopback', LOG_LEVEL: 'info', ...o.env };
  const node = (name: string, script: string, extra: Record<string, string>) => {
    processes[name] = spawn(process.execPath, [join(here, script)], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', o.verbose ? 'inherit' : 'ignore'] });
    if (o.verbose) processes[name]!.stdout!.pipe(process.stdout);
    return processes[name]!;
  };
  await Promise.all(
    apiPorts.map((p, i) => waitForLine(node(`api${i + 1}`, 'api/server.js', { PORT: String(p), NODE_ID: `api${i + 1}` }), (l) => l.includes('listening'), `api${i + 1}`)),
  );
  await waitForLine(node('worker', 'worker/index.js', { NODE_ID: 'worker1', METRICS_PORT: '0' }), (l) => l.includes('Maestro worker started'), 'worker');
  const prefix = join(dataDir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, 'nginx.conf'), nginxConf(port, apiPorts, prefix));
  processes.nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio });
  await waitForPort(port, 'nginx');
  const stop = async () => {
    await Promise.all(
      Object.values(processes).map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  };
  return { url, redisUrl, apiUrls: apiPorts.map((p) => `http://127.0.0.1:${p}`), processes, stop };
}

if (isMain(import.meta.url)) {
  const port = Number(process.env.CLUSTER_PORT ?? 8080);
  startLocalCluster({ port, dataDir: process.env.CLUSTER_DATA_DIR ?? join(homedir(), '.maestro', 'cluster'), verbose: true }).then(
    (c) => {
      console.log(`Maestro local cluster: ${c.url} (nginx → ${c.apiUrls.join(', ')}; Redis ${c.redisUrl}; one worker). Ctrl-C stops it.`);
      const stop = () => void c.stop().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
