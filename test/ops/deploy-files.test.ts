import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { nginxConf, PROXY_TIMEOUTS } from '../../src/local-cluster.js';
import { loadConfig } from '../../src/shared/config.js';
import { all, effective, httpAndServer, one, parseNginxConf, seconds, type Directive } from '../helpers/nginx-conf.js';

const root = resolve(import.meta.dirname, '../..');
const hasNginx = !spawnSync('nginx', ['-v'], { stdio: 'ignore' }).error;

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification schema (vendored in deploy/schemas)', () => {
    const schema = JSON.parse(readFileSync(resolve(root, 'deploy/schemas/compose-spec.json'), 'utf8'));
    delete schema.$schema; // the spec names the https URL of draft-07's meta-schema, which Ajv knows as http
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(schema);
    const doc = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    expect(validate({ services: { x: { image: 'a', unknown_key: 1 } } })).toBe(false); // the validator does reject
  });

  it('runs Redis with AOF, two API replicas, a worker and nginx in front', () => {
    const doc = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    expect(Object.keys(doc.services).sort()).toEqual(['api1', 'api2', 'nginx', 'redis', 'worker']);
    expect(doc.services.redis.command).toContain('--appendonly');
    expect(doc.services.worker.command).toEqual(['node', 'dist/worker/index.js']);
    const nginx = readFileSync(resolve(root, 'deploy/nginx/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/server api1:3000/);
    expect(nginx).toMatch(/server api2:3000/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade/);
  });
});

describe('deploy/nginx/nginx.conf', () => {
  const nginx = readFileSync(resolve(root, 'deploy/nginx/nginx.conf'), 'utf8');
  const directive = (name: string) => [...nginx.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => m[1]!.trim());
  const defaults = loadConfig({});

  it('caps open connections per client IP and in total like the replicas (MAX_CONNECTIONS_PER_IP, MAX_CONNECTIONS), answering 429', () => {
    const zones = new Map(directive('limit_conn_zone').map((v) => [/zone=(\w+):/.exec(v)![1]!, v.split(/\s+/)[0]!]));
    const limits = new Map(directive('limit_conn').map((v) => v.split(/\s+/) as [string, string]));
    const perIp = [...zones].find(([, key]) => key === '$binary_remote_addr')?.[0];
    const total = [...zones].find(([, key]) => !key.startsWith('$'))?.[0]; // a constant key: one counter for all
    expect(Number(limits.get(perIp!))).toBe(defaults.MAX_CONNECTIONS_PER_IP);
    expect(Number(limits.get(total!))).toBe(defaults.MAX_CONNECTIONS);
    expect(directive('limit_conn_status')).toEqual(['429']);
    expect(nginx).toMatch(/return 429 '\{"error":true,"code":"RATE_LIMITED",[^']*'/);
  });

  it('times out headers, bodies, sends and idle keep-alive like the replicas (HTTP_HEADERS_TIMEOUT_MS, HTTP_IDLE_TIMEOUT_MS)', () => {
    expect(seconds(directive('client_header_timeout')[0]) * 1000).toBe(defaults.HTTP_HEADERS_TIMEOUT_MS);
    expect(seconds(directive('client_body_timeout')[0])).toBeGreaterThan(0);
    expect(seconds(directive('send_timeout')[0])).toBeGreaterThan(0);
    expect(seconds(directive('keepalive_timeout')[0]) * 1000).toBe(defaults.HTTP_IDLE_TIMEOUT_MS);
  });

  it('holds enough connections for the caps (two per proxied client) and file descriptors for them', () => {
    const workerConnections = Number(directive('worker_connections')[0]);
    expect(workerConnections).toBeGreaterThanOrEqual(2 * defaults.MAX_CONNECTIONS);
    expect(Number(directive('worker_rlimit_nofile')[0])).toBeGreaterThanOrEqual(workerConnections);
  });

  it.runIf(hasNginx)('passes nginx -t (upstream hosts replaced by loopback)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-nginx-t-'));
    try {
      writeFileSync(join(dir, 'nginx.conf'), nginx.replace(/server api\d:3000/g, 'server 127.0.0.1:3000'));
      const t = spawnSync('nginx', ['-t', '-q', '-p', dir, '-e', 'stderr', '-g', `pid ${dir}/nginx.pid;`, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Issue 13 item 6: per kind of request, its own timeouts and when it may go to the other replica.
  const { http, server } = httpAndServer(parseNginxConf(nginx));
  const location = (...args: string[]) => one(server, 'location', ...args).block!;
  const lane = (name: string) => location('=', `/.maestro-lb/${name}`);
  const spawnLocation = location('~*', '^/api(/v1)?/sessions/spawn$');
  const get = (loc: Directive[], name: string) => effective([loc, server, http], name);

  it('sends WebSocket upgrades, keyed POSTs (spawn apart; not /auth/*) and PUT/DELETE to their own locations, with the target as the client sent it', () => {
    const lanes = one(http, 'map', '$maestro_upgrading:$request_method:$maestro_keyed:$uri', '$maestro_lane').block!;
    expect(lanes.map((d) => [d.name, ...d.args])).toEqual([
      ['default', ''],
      ['~^1:', 'websocket'],
      ['~*^0:POST:1:/api(/v1)?/auth(/|$)', ''],
      ['~*^0:POST:1:/api(/v1)?/sessions/spawn$', 'keyed-spawn'],
      ['~^0:POST:1:', 'keyed'],
      ['~^0:(PUT|DELETE):', 'unretried'],
    ]);
    expect(one(http, 'map', '$http_upgrade', '$maestro_upgrading').block!.map((d) => [d.name, ...d.args])).toEqual([['default', '1'], ['', '0']]);
    expect(one(http, 'map', '$http_idempotency_key', '$maestro_keyed').block!.map((d) => [d.name, ...d.args])).toEqual([['default', '1'], ['', '0']]);
    const ifs = all(server, 'if');
    expect(ifs.map((d) => [d.args, d.block!.map((x) => [x.name, ...x.args])])).toEqual([[['($maestro_lane)'], [['rewrite', '^', '/.maestro-lb/$maestro_lane', 'last']]]]);
    for (const name of ['websocket', 'keyed', 'keyed-spawn', 'unretried']) {
      expect(all(lane(name), 'internal'), name).toHaveLength(1);
      expect(get(lane(name), 'proxy_pass'), name).toBe('http://maestro_api$request_uri');
    }
    // Without a URI, proxy_pass sends the request line's target unchanged too.
    expect(get(location('/'), 'proxy_pass')).toBe('http://maestro_api');
    expect(get(spawnLocation, 'proxy_pass')).toBe('http://maestro_api');
    expect(all(server, 'proxy_set_header').map((d) => d.args.join(' '))).toEqual([
      'Upgrade $http_upgrade',
      'Connection $connection_upgrade',
      'Host $host',
      'X-Forwarded-For $proxy_add_x_forwarded_for',
      'X-Request-Id $request_id',
    ]);
    // Set once at the server level: a location with a proxy_set_header of its own would drop them all.
    for (const loc of [location('/'), spawnLocation, ...['websocket', 'keyed', 'keyed-spawn', 'unretried'].map(lane)]) expect(all(loc, 'proxy_set_header')).toEqual([]);
  });

  it('times plain HTTP out just above REQUEST_TIMEOUT_MS, spawn above SPAWN_WAIT_MS, WebSockets after an hour; connects after 2 s', () => {
    expect(seconds(get(location('/'), 'proxy_connect_timeout'))).toBe(2);
    for (const loc of [location('/'), lane('keyed'), lane('unretried')]) {
      const read = seconds(get(loc, 'proxy_read_timeout'));
      expect(read * 1000).toBeGreaterThan(defaults.REQUEST_TIMEOUT_MS);
      expect(read * 1000).toBeLessThanOrEqual(defaults.REQUEST_TIMEOUT_MS + 10_000);
      expect(get(loc, 'proxy_send_timeout')).toBe(get(loc, 'proxy_read_timeout'));
    }
    for (const loc of [spawnLocation, lane('keyed-spawn')]) {
      expect(seconds(get(loc, 'proxy_read_timeout')) * 1000).toBeGreaterThan(defaults.SPAWN_WAIT_MS + 10_000);
      expect(get(loc, 'proxy_send_timeout')).toBe(get(loc, 'proxy_read_timeout'));
    }
    // An open WebSocket carries the server's ping every WS_HEARTBEAT_MS, so only a replica gone for
    // the whole hour is given up.
    expect(seconds(get(lane('websocket'), 'proxy_read_timeout'))).toBe(3600);
    expect(seconds(get(lane('websocket'), 'proxy_send_timeout'))).toBe(3600);
    expect(3600 * 1000).toBeGreaterThan(2 * defaults.WS_HEARTBEAT_MS);
  });

  it('passes GET/HEAD and keyed POSTs to the other replica on errors, timeouts, 502 and 503 (within a window above connect + read); PUT/DELETE never', () => {
    expect(get(location('/'), 'proxy_next_upstream_tries')).toBe('2');
    for (const loc of [location('/'), spawnLocation, lane('websocket')]) expect(get(loc, 'proxy_next_upstream')).toBe('error timeout http_502');
    for (const loc of [lane('keyed'), lane('keyed-spawn')]) expect(get(loc, 'proxy_next_upstream')).toBe('error timeout http_502 non_idempotent');
    expect(get(lane('unretried'), 'proxy_next_upstream')).toBe('off');
    for (const loc of [location('/'), spawnLocation, lane('keyed'), lane('keyed-spawn')]) {
      const window = seconds(get(loc, 'proxy_next_upstream_timeout'));
      expect(window).toBeGreaterThan(seconds(get(loc, 'proxy_connect_timeout')) + seconds(get(loc, 'proxy_read_timeout')));
    }
    // An upgrade goes on after a quick failure only, not after waiting an hour for its 101.
    expect(seconds(get(lane('websocket'), 'proxy_next_upstream_timeout'))).toBeLessThan(60);
    const upstream = one(http, 'upstream', 'maestro_api').block!;
    expect(get(upstream, 'zone')).toBe('maestro_api 64k'); // failure counts shared by the workers
    expect(all(upstream, 'server').map((d) => d.args.slice(1))).toEqual([
      ['max_fails=1', `fail_timeout=${PROXY_TIMEOUTS.failTimeout}s`],
      ['max_fails=1', `fail_timeout=${PROXY_TIMEOUTS.failTimeout}s`],
    ]);
  });

  it('has the upstream settings, maps, proxy settings and locations of npm run cluster (src/local-cluster.ts nginxConf)', () => {
    const local = httpAndServer(parseNginxConf(nginxConf(8080, [3001, 3002], '/tmp/x')));
    const shape = (d: Directive): unknown => [d.name, ...d.args, ...(d.block ? [d.block.map(shape)] : [])];
    const routing = (h: Directive[], s: Directive[]) => ({
      upstream: one(h, 'upstream', 'maestro_api').block!.map((d) => (d.name === 'server' ? ['server', ...d.args.slice(1)] : shape(d))),
      maps: all(h, 'map').map(shape),
      proxy: s.filter((d) => d.name.startsWith('proxy_') || d.name === 'if').map(shape),
      locations: all(s, 'location').filter((d) => d.args[0] !== '@connections_limited').map(shape),
    });
    expect(routing(local.http, local.server)).toEqual(routing(http, server));
  });

  it.runIf(hasNginx)('npm run cluster\'s nginxConf passes nginx -t, with the production timeouts and with shortened ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-nginx-t-'));
    try {
      for (const timeouts of [{}, { http: 3, spawn: 6, failTimeout: 2 }]) {
        writeFileSync(join(dir, 'nginx.conf'), nginxConf(8080, [3001, 3002], dir, { timeouts }));
        const t = spawnSync('nginx', ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
        expect(t.status, t.stderr).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, runs as a non-root user and has a health check', () => {
    const text = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/^HEALTHCHECK /m);
  });
});
