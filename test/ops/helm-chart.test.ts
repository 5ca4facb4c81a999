import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { findHelm, NO_HELM_MESSAGE } from '../helpers/helm.js';

const chart = resolve(import.meta.dirname, '../../deploy/helm/maestro');
const helm = findHelm();

describe('deploy/helm/maestro', () => {
  const schema = JSON.parse(readFileSync(resolve(chart, 'values.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  const values = parse(readFileSync(resolve(chart, 'values.yaml'), 'utf8'));

  it('values.yaml satisfies values.schema.json, and the schema rejects bad values', () => {
    expect(validate(values) ? [] : validate.errors).toEqual([]);
    expect(validate({ ...values, config: { ...values.config, auth: 'maybe' } })).toBe(false);
    expect(validate({ ...values, redis: { ...values.redis, externalUrl: 'http://nope' } })).toBe(false);
    expect(validate({ ...values, worker: { ...values.worker, concurrency: 0 } })).toBe(false);
    expect(validate({ ...values, redis: { ...values.redis, enabled: false, externalUrl: 'redis-sentinel://s1:26379,s2:26379/mymaster' } })).toBe(true);
  });

  it('templates cover Deployments, Service, Ingress, HPA, PDB, ConfigMap, Secret, ServiceMonitor and NetworkPolicy with /health and /ready probes', () => {
    const text = readdirSync(resolve(chart, 'templates'))
      .map((f) => readFileSync(resolve(chart, 'templates', f), 'utf8'))
      .join('\n');
    for (const kind of ['Deployment', 'Service', 'Ingress', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ConfigMap', 'Secret', 'ServiceMonitor', 'NetworkPolicy']) {
      expect(text).toMatch(new RegExp(`^kind: ${kind}$`, 'm'));
    }
    expect(values.probes).toEqual({ liveness: { path: '/health', periodSeconds: 10 }, readiness: { path: '/ready', periodSeconds: 5 } });
    expect(text).toContain('dist/worker/index.js');
  });

  it('passes the connection caps and HTTP timeouts to the API (ConfigMap), and to ingress-nginx as limit-connections', () => {
    expect(values.config).toMatchObject({ maxConnections: 10000, maxConnectionsPerIp: 1000, httpHeadersTimeoutMs: 20000, httpIdleTimeoutMs: 65000 });
    expect(validate({ ...values, config: { ...values.config, maxConnections: 0 } })).toBe(false);
    expect(validate({ ...values, config: { ...values.config, httpHeadersTimeoutMs: 10 } })).toBe(false);
    const configmap = readFileSync(resolve(chart, 'templates/configmap.yaml'), 'utf8');
    for (const [env, key] of [['MAX_CONNECTIONS', 'maxConnections'], ['MAX_CONNECTIONS_PER_IP', 'maxConnectionsPerIp'], ['HTTP_HEADERS_TIMEOUT_MS', 'httpHeadersTimeoutMs'], ['HTTP_IDLE_TIMEOUT_MS', 'httpIdleTimeoutMs']]) {
      // int64: Helm reads numbers as floats, and 1e+06 would not parse as an integer
      expect(configmap).toContain(`${env}: {{ .Values.config.${key} | int64 | quote }}`);
    }
    const ingress = readFileSync(resolve(chart, 'templates/ingress.yaml'), 'utf8');
    expect(ingress).toMatch(/eq \.Values\.ingress\.className "nginx"/);
    expect(ingress).toContain('"nginx.ingress.kubernetes.io/limit-connections" (.Values.config.maxConnectionsPerIp');
  });

  it('gives the Ingress one read timeout for HTTP and WebSocket: above the request timeout, a spawn\'s wait and two WebSocket pings; GET/HEAD re-sent to another pod (issue 13 item 6)', () => {
    const defaults = loadConfig({});
    const a = (name: string) => values.ingress.annotations[`nginx.ingress.kubernetes.io/${name}`] as string;
    const read = Number(a('proxy-read-timeout'));
    expect(read * 1000).toBeGreaterThan(defaults.REQUEST_TIMEOUT_MS);
    expect(read * 1000).toBeGreaterThan(defaults.SPAWN_WAIT_MS + 10_000);
    expect(read * 1000).toBeGreaterThan(2 * defaults.WS_HEARTBEAT_MS); // an open WebSocket is never silent that long
    expect(read).toBeLessThanOrEqual(120); // a request on a frozen pod is given up within minutes, not an hour
    expect(a('proxy-send-timeout')).toBe(a('proxy-read-timeout'));
    expect(Number(a('proxy-connect-timeout'))).toBeLessThanOrEqual(5);
    expect(a('proxy-next-upstream')).toBe('error timeout http_502'); // never non_idempotent: unkeyed POSTs are not re-sent
    expect(a('proxy-next-upstream-tries')).toBe('2');
    expect(Number(a('proxy-next-upstream-timeout'))).toBeGreaterThan(Number(a('proxy-connect-timeout')) + read);
  });

  it.runIf(!!helm)('helm lint and helm template succeed', () => {
    const lint = spawnSync(helm!, ['lint', chart, '--set', 'redis.enabled=false', '--set', 'redis.externalUrl=redis://r:6379'], { encoding: 'utf8' });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    const tpl = spawnSync(helm!, ['template', 'm', chart, '--set', 'redis.enabled=false', '--set', 'redis.externalUrl=redis://r:6379'], { encoding: 'utf8' });
    expect(tpl.status, tpl.stderr).toBe(0);
  });
});

if (!helm) console.warn(`${NO_HELM_MESSAGE} (values are still checked against values.schema.json)`);
