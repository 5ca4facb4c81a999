import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';

const root = resolve(import.meta.dirname, '../..');

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
  const seconds = (v: string | undefined) => Number(/^(\d+)s$/.exec(v ?? '')?.[1]);
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

  it.runIf(!spawnSync('nginx', ['-v'], { stdio: 'ignore' }).error)('passes nginx -t (upstream hosts replaced by loopback)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-nginx-t-'));
    try {
      writeFileSync(join(dir, 'nginx.conf'), nginx.replace(/server api\d:3000/g, 'server 127.0.0.1:3000'));
      const t = spawnSync('nginx', ['-t', '-q', '-p', dir, '-e', 'stderr', '-g', `pid ${dir}/nginx.pid;`, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
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
