import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { CHART, findHelm, helmLint, helmTemplate, NO_HELM_MESSAGE, validateObject, type K8sObject } from '../helpers/helm.js';

// Issue 16: the chart rendered by a real helm (scripts/prepare-helm.sh), every object checked against
// the Kubernetes schemas, and concrete facts per row of the values matrix.
const helm = findHelm();
if (!helm) console.warn(NO_HELM_MESSAGE);

/** Renders `values` and fails the test on a non-zero exit. */
function render(values: object = {}): K8sObject[] {
  const r = helmTemplate(helm!, values);
  expect(r.status, r.stderr).toBe(0);
  expect(r.objects.length).toBeGreaterThan(0);
  return r.objects;
}
const find = (objs: K8sObject[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (objs: K8sObject[], kind: string, name: string) => {
  const found = find(objs, kind, name);
  expect(found.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([`${kind}/${name}`]);
  return found[0]!;
};
const configData = (objs: K8sObject[]) => one(objs, 'ConfigMap', 'm-maestro').data as Record<string, string>;
/** REDIS_URL as the chart's Secret holds it (never in the ConfigMap: an external URL may carry a password). */
const redisUrl = (objs: K8sObject[]) => one(objs, 'Secret', 'm-maestro-redis-url').stringData.url as string;
const container = (objs: K8sObject[], component: 'api' | 'worker') => one(objs, 'Deployment', `m-maestro-${component}`).spec.template.spec.containers[0];
const isRedis = (o: K8sObject) => o.metadata.name === 'm-maestro-redis' || o.metadata.labels?.['app.kubernetes.io/component'] === 'redis'; // not the URL Secret

const monitoring = { serviceMonitor: { enabled: true }, podMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafana: { dashboard: { enabled: true } } };
const backups = { backup: { cron: '0 3 * * *', keep: 7, existingClaim: 'maestro-backups' } };
const ingressTls = { ingress: { enabled: true, tls: true, host: 'maestro.example.org', tlsSecretName: 'maestro-cert' } };
const route = { httpRoute: { enabled: true, hostnames: ['maestro.example.org'], parentRefs: [{ name: 'gw', namespace: 'gateways', sectionName: 'https' }] } };

/** The matrix: each row's values, rendered and validated object by object. */
const MATRIX: Record<string, object> = {
  defaults: {},
  'external Redis': { redis: { enabled: false, externalUrl: 'rediss://:pw@redis.example.org:6380/0' } },
  'external Redis (sentinel)': { redis: { externalUrl: 'redis-sentinel://s1:26379,s2:26379/mymaster' } },
  'HPA off': { api: { autoscaling: { enabled: false }, replicas: 3 } },
  monitoring,
  'Ingress with TLS': ingressTls,
  'Gateway API HTTPRoute': route,
  'NetworkPolicy off': { networkPolicy: { enabled: false } },
  'NetworkPolicy, metrics from monitoring only': { networkPolicy: { metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] } },
  backups,
  'existing Secrets': { secrets: { existingSecret: 'my-jwt' }, admin: { existingSecret: 'my-admin', emailKey: 'user', passwordKey: 'pass' }, redis: { existingSecret: 'my-redis' } },
  'everything on': { ...monitoring, ...backups, ...ingressTls, ...route },
  'large numbers': { config: { maxConnections: 1000000, eventStreamMaxlen: 10000000, legacyListMax: 10000000, claimLeaseMaxMs: 2592000000 } },
};

describe.skipIf(!helm)('deploy/helm/maestro rendered by helm', () => {
  it('passes helm lint --strict with the defaults and with every option on', () => {
    for (const values of [{}, MATRIX['everything on']!, MATRIX['external Redis']!]) {
      const lint = helmLint(helm!, values);
      expect(lint.status, lint.output).toBe(0);
      expect(lint.output).toContain('0 chart(s) failed');
    }
  });

  it('the validator fails what it should: a wrong type, a missing required field, an unknown kind', async () => {
    const [deployment] = find(render(), 'Deployment');
    expect(await validateObject(deployment!)).toEqual([]);
    expect((await validateObject({ ...deployment!, spec: { ...deployment!.spec, replicas: 'two' } })).join()).toMatch(/replicas/);
    expect((await validateObject({ ...deployment!, spec: { ...deployment!.spec, selector: undefined } })).join()).toMatch(/selector/);
    expect(await validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual(['example.com/v1/Widget w: no schema known for this apiVersion/kind']);
    expect((await validateObject({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'w' } })).join()).toMatch(/no schema known/);
  });

  for (const [row, values] of Object.entries(MATRIX)) {
    it(`${row}: every rendered object is valid for its Kubernetes schema, and the ConfigMap passes loadConfig`, async () => {
      const objs = render(values);
      const problems = (await Promise.all(objs.map(validateObject))).flat();
      expect(problems).toEqual([]);
      // what the pods get is what the processes accept (no 1e+06, no unknown cron)
      expect(() => loadConfig({ ...configData(objs) })).not.toThrow();
      for (const o of objs) expect(o.metadata.labels?.['app.kubernetes.io/instance'], `${o.kind}/${o.metadata.name}`).toBe('m');
    });
  }

  it('defaults: the chart\'s own Redis (StatefulSet with AOF and a PVC, a Service), REDIS_URL to it, HPA, two NetworkPolicies', () => {
    const objs = render();
    const sts = one(objs, 'StatefulSet', 'm-maestro-redis');
    expect(sts.spec.volumeClaimTemplates.map((c: K8sObject) => c.metadata.name)).toEqual(['data']);
    expect(sts.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const conf = one(objs, 'ConfigMap', 'm-maestro-redis').data['redis.conf'] as string;
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^appendfsync everysec$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(one(objs, 'Service', 'm-maestro-redis').spec.ports).toEqual([{ name: 'redis', port: 6379, targetPort: 'redis' }]);
    expect(redisUrl(objs)).toBe('redis://m-maestro-redis:6379');
    expect(configData(objs).REDIS_URL).toBeUndefined();
    const env = container(objs, 'worker').env as { name: string; valueFrom?: { secretKeyRef?: object } }[];
    expect(env.find((e) => e.name === 'REDIS_URL')!.valueFrom!.secretKeyRef).toEqual({ name: 'm-maestro-redis-url', key: 'url' });
    expect(find(objs, 'HorizontalPodAutoscaler')).toHaveLength(1);
    expect(one(objs, 'Deployment', 'm-maestro-api').spec.replicas).toBeUndefined(); // the HPA owns it
    const redisPolicy = one(objs, 'NetworkPolicy', 'm-maestro-redis');
    expect(redisPolicy.spec.ingress[0].ports).toEqual([{ port: 6379 }]);
    expect(redisPolicy.spec.ingress[0].from[0].podSelector.matchExpressions[0].values).toEqual(['api', 'worker']);
    // the app policy no longer selects the Redis pod (it would block 6379)
    expect(one(objs, 'NetworkPolicy', 'm-maestro').spec.podSelector.matchExpressions).toEqual([{ key: 'app.kubernetes.io/component', operator: 'In', values: ['api', 'worker'] }]);
    for (const kind of ['Ingress', 'HTTPRoute', 'ServiceMonitor', 'PodMonitor', 'PrometheusRule']) expect(find(objs, kind), kind).toEqual([]);
  });

  it('external Redis: no Redis object, REDIS_URL is the URL (in a Secret, its password in no ConfigMap); redis.enabled=false without a URL fails with a message', () => {
    for (const row of ['external Redis', 'external Redis (sentinel)']) {
      const objs = render(MATRIX[row]);
      expect(objs.filter(isRedis).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
      expect(redisUrl(objs)).toBe((MATRIX[row] as { redis: { externalUrl: string } }).redis.externalUrl);
      for (const cm of find(objs, 'ConfigMap')) expect(JSON.stringify(cm)).not.toContain('redis.example.org');
    }
    // or the operator's own Secret with the whole URL: no Redis, no URL Secret of the chart
    const own = render({ redis: { existingSecret: 'my-redis', existingSecretKey: 'REDIS_URL' } });
    expect(own.filter(isRedis).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const env = container(own, 'api').env as { name: string; valueFrom?: { secretKeyRef?: object } }[];
    expect(env.find((e) => e.name === 'REDIS_URL')!.valueFrom!.secretKeyRef).toEqual({ name: 'my-redis', key: 'REDIS_URL' });
    const bad = helmTemplate(helm!, { redis: { enabled: false, externalUrl: '' } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('redis.enabled=false needs redis.externalUrl');
  });

  it('HPA off: no HorizontalPodAutoscaler, the Deployment has api.replicas', () => {
    const objs = render(MATRIX['HPA off']);
    expect(find(objs, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(one(objs, 'Deployment', 'm-maestro-api').spec.replicas).toBe(3);
  });

  it('monitoring: ServiceMonitor on the API Service\'s metrics port, PodMonitor on the workers\' 9464, PrometheusRule, dashboard ConfigMap for the sidecar', () => {
    const objs = render(MATRIX.monitoring);
    const svc = one(objs, 'Service', 'm-maestro');
    const sm = one(objs, 'ServiceMonitor', 'm-maestro-api');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels![k], k).toBe(v);
    expect(svc.spec.ports).toContainEqual({ name: 'metrics', port: 9464, targetPort: 'metrics' });
    expect(container(objs, 'api').ports).toContainEqual({ name: 'metrics', containerPort: 9464 });
    expect(configData(objs).METRICS_PORT).toBe('9464');
    const pm = one(objs, 'PodMonitor', 'm-maestro-worker');
    expect(pm.spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    const workerPod = one(objs, 'Deployment', 'm-maestro-worker').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) expect(workerPod[k], k).toBe(v);
    expect(container(objs, 'worker').ports).toEqual([{ name: 'metrics', containerPort: 9464 }]);
    const alerts = one(objs, 'PrometheusRule', 'm-maestro').spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(['MaestroAPIReplicaDown', 'MaestroAPIDown', 'MaestroWorkerDown', 'MaestroRedisDown', 'MaestroRedisErrors', 'MaestroHigh5xxRate', 'MaestroHighP99Latency', 'MaestroWebSocketSlowDrops', 'MaestroSpawnFailures', 'MaestroQueueBacklog']);
    const dash = one(objs, 'ConfigMap', 'm-maestro-dashboard');
    expect(dash.metadata.labels!.grafana_dashboard).toBe('1');
    expect(JSON.parse(dash.data['maestro.json'])).toEqual(JSON.parse(readFileSync(resolve(CHART, 'dashboards/maestro.json'), 'utf8')));
    const custom = render({ grafana: { dashboard: { enabled: true, label: 'my_dashboards', labelValue: 'yes' } } });
    expect(one(custom, 'ConfigMap', 'm-maestro-dashboard').metadata.labels!.my_dashboards).toBe('yes');
  });

  it('Ingress with TLS: the host, the certificate Secret, limit-connections = maxConnectionsPerIp', () => {
    const ing = one(render(MATRIX['Ingress with TLS']), 'Ingress', 'm-maestro');
    expect(ing.spec.tls).toEqual([{ hosts: ['maestro.example.org'], secretName: 'maestro-cert' }]);
    expect(ing.spec.rules[0].host).toBe('maestro.example.org');
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'm-maestro', port: { name: 'http' } });
    expect(ing.metadata.annotations!['nginx.ingress.kubernetes.io/limit-connections']).toBe('1000');
  });

  it('Gateway API: an HTTPRoute (gateway.networking.k8s.io/v1) to the API Service; without parentRefs the render fails', () => {
    const hr = one(render(MATRIX['Gateway API HTTPRoute']), 'HTTPRoute', 'm-maestro');
    expect(hr.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(hr.spec.parentRefs).toEqual([{ name: 'gw', namespace: 'gateways', sectionName: 'https' }]);
    expect(hr.spec.hostnames).toEqual(['maestro.example.org']);
    expect(hr.spec.rules[0].backendRefs).toEqual([{ name: 'm-maestro', port: 80 }]);
    expect(hr.spec.rules[0].timeouts).toEqual({ request: '75s' });
    const bad = helmTemplate(helm!, { httpRoute: { enabled: true, parentRefs: [] } });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('httpRoute.parentRefs');
  });

  it('NetworkPolicy: the API port from the cluster, METRICS_PORT from any pod by default or only from networkPolicy.metricsFrom', () => {
    expect(one(render({}), 'NetworkPolicy', 'm-maestro').spec.ingress).toEqual([{ ports: [{ port: 3000 }] }, { ports: [{ port: 9464 }] }]);
    const peers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    expect(one(render(MATRIX['NetworkPolicy, metrics from monitoring only']!), 'NetworkPolicy', 'm-maestro').spec.ingress).toEqual([{ ports: [{ port: 3000 }] }, { ports: [{ port: 9464 }], from: peers }]);
  });

  it('NetworkPolicy off: none rendered', () => {
    expect(find(render(MATRIX['NetworkPolicy off']), 'NetworkPolicy')).toEqual([]);
  });

  it('backups: BACKUP_CRON and BACKUP_KEEP set, the existing claim mounted at /backups on the workers, backup alerts', () => {
    const objs = render({ ...backups, prometheusRule: { enabled: true } });
    expect(configData(objs)).toMatchObject({ BACKUP_CRON: '0 3 * * *', BACKUP_KEEP: '7', BACKUP_DIR: '/backups' });
    const pod = one(objs, 'Deployment', 'm-maestro-worker').spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'maestro-backups' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'backups', mountPath: '/backups' });
    const alerts = JSON.stringify(one(objs, 'PrometheusRule', 'm-maestro').spec);
    expect(alerts).toContain('MaestroBackupTooOld');
    expect(alerts).toContain(`${26 * 3600}`);
    // without a schedule: BACKUP_CRON off (the worker removes it), an emptyDir, no backup alert
    const none = render({ prometheusRule: { enabled: true } });
    expect(configData(none).BACKUP_CRON).toBe('off');
    expect(one(none, 'Deployment', 'm-maestro-worker').spec.template.spec.volumes).toContainEqual({ name: 'backups', emptyDir: {} });
    expect(JSON.stringify(one(none, 'PrometheusRule', 'm-maestro').spec)).not.toContain('MaestroBackupTooOld');
  });

  it('existing Secrets: no Secret rendered, the pods read the given ones (keys as configured)', () => {
    const objs = render(MATRIX['existing Secrets']);
    expect(find(objs, 'Secret')).toEqual([]);
    const env = container(objs, 'api').env as { name: string; valueFrom?: { secretKeyRef?: object } }[];
    expect(env.find((e) => e.name === 'MAESTRO_JWT_KEYS')!.valueFrom!.secretKeyRef).toMatchObject({ name: 'my-jwt', key: 'jwtKeys' });
    expect(env.find((e) => e.name === 'REDIS_URL')!.valueFrom!.secretKeyRef).toEqual({ name: 'my-redis', key: 'url' });
    expect(env.find((e) => e.name === 'MAESTRO_ADMIN_EMAIL')!.valueFrom!.secretKeyRef).toEqual({ name: 'my-admin', key: 'user' });
    expect(env.find((e) => e.name === 'MAESTRO_ADMIN_PASSWORD')!.valueFrom!.secretKeyRef).toEqual({ name: 'my-admin', key: 'pass' });
  });

  it('the first admin: a kept Secret with the email and a 32-character random password, passed to the API only; none with auth disabled', () => {
    const objs = render();
    const s = one(objs, 'Secret', 'm-maestro-admin');
    expect(s.metadata.annotations!['helm.sh/resource-policy']).toBe('keep');
    expect(Buffer.from(s.data.email, 'base64').toString()).toBe('admin@maestro.local');
    const password = Buffer.from(s.data.password, 'base64').toString();
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    const other = Buffer.from(one(render(), 'Secret', 'm-maestro-admin').data.password, 'base64').toString();
    expect(other).not.toBe(password); // random per install (an upgrade reads the old one back with lookup)
    const names = (c: { env: { name: string }[] }) => c.env.map((e) => e.name);
    expect(names(container(objs, 'api'))).toEqual(expect.arrayContaining(['MAESTRO_ADMIN_EMAIL', 'MAESTRO_ADMIN_PASSWORD']));
    expect(names(container(objs, 'worker'))).not.toContain('MAESTRO_ADMIN_PASSWORD');
    // no credential in a ConfigMap
    for (const cm of find(objs, 'ConfigMap')) expect(JSON.stringify(cm)).not.toContain(password);
    const off = render({ config: { auth: 'disabled' } });
    expect(find(off, 'Secret', 'm-maestro-admin')).toEqual([]);
    expect(names(container(off, 'api'))).not.toContain('MAESTRO_ADMIN_PASSWORD');
    expect(() => loadConfig({ ...configData(objs), MAESTRO_ADMIN_EMAIL: 'admin@maestro.local', MAESTRO_ADMIN_PASSWORD: password })).not.toThrow();
  });

  it('API shutdown: preStop sleep, SHUTDOWN_DRAIN_DELAY_MS passed, grace period above preStop + drain + shutdown timeout', () => {
    for (const values of [{}, { api: { preStopSleepSeconds: 10 }, config: { shutdownDrainDelayMs: 20000, shutdownTimeoutMs: 45000 } }]) {
      const objs = render(values);
      const data = configData(objs);
      const c = container(objs, 'api');
      const sleep = Number(c.lifecycle.preStop.exec.command[1]);
      expect(c.lifecycle.preStop.exec.command[0]).toBe('sleep');
      const config = loadConfig({ ...data });
      expect(config.SHUTDOWN_DRAIN_DELAY_MS).toBeGreaterThan(0);
      expect(config.SHUTDOWN_DRAIN_DELAY_MS).toBeLessThanOrEqual(config.SHUTDOWN_TIMEOUT_MS - 2000); // else the API cuts it
      const grace = one(objs, 'Deployment', 'm-maestro-api').spec.template.spec.terminationGracePeriodSeconds;
      expect(grace).toBeGreaterThan(sleep + (config.SHUTDOWN_DRAIN_DELAY_MS + config.SHUTDOWN_TIMEOUT_MS) / 1000);
      expect(one(objs, 'Deployment', 'm-maestro-worker').spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(config.SHUTDOWN_TIMEOUT_MS / 1000);
    }
    expect(container(render({ api: { preStopSleepSeconds: 10 } }), 'api').lifecycle.preStop.exec.command).toEqual(['sleep', '10']);
  });

  it('checksum/config and checksum/secret on both pod templates: a config change rolls the pods, a JWT key change too', () => {
    const sums = (objs: K8sObject[]) =>
      ['api', 'worker'].map((c) => {
        const a = one(objs, 'Deployment', `m-maestro-${c}`).spec.template.metadata.annotations;
        return [a['checksum/config'], a['checksum/secret']] as [string, string];
      });
    const base = sums(render());
    for (const [config, secret] of base) {
      expect(config).toMatch(/^[0-9a-f]{64}$/);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(sums(render())).toEqual(base); // stable: the admin's random password is not in them
    const logChanged = sums(render({ config: { logLevel: 'debug' } }));
    expect(logChanged[0]![0]).not.toBe(base[0]![0]);
    expect(logChanged[0]![1]).toBe(base[0]![1]);
    const keyChanged = sums(render({ secrets: { jwtKeys: `k1:${'x'.repeat(32)}` } }));
    expect(keyChanged[0]![1]).not.toBe(base[0]![1]);
    expect(keyChanged[1]![1]).not.toBe(base[1]![1]);
    expect(keyChanged[0]![0]).toBe(base[0]![0]);
  });

  it('large numbers stay integers (1000000, not 1e+06), and every setting reaches the ConfigMap under its env name', () => {
    const data = configData(render(MATRIX['large numbers']));
    expect(data).toMatchObject({ MAX_CONNECTIONS: '1000000', EVENT_STREAM_MAXLEN: '10000000', LEGACY_LIST_MAX: '10000000', CLAIM_LEASE_MAX_MS: '2592000000' });
    expect(JSON.stringify(data)).not.toMatch(/e\+/);
    const config = loadConfig({ ...data });
    expect(config.MAX_CONNECTIONS).toBe(1_000_000);
    expect(config.CLAIM_LEASE_MAX_MS).toBe(2_592_000_000);
    const defaults = configData(render());
    expect(defaults).toMatchObject({
      PRINCIPAL_CACHE_TTL_MS: '30000',
      PRINCIPAL_CACHE_MAX_ENTRIES: '10000',
      RATE_LIMIT_LEASE_DIVISOR: '100',
      RATE_LIMIT_LOCAL_KEYS: '100000',
      LEGACY_LIST_MAX: '100000',
      SESSION_UPDATE_COALESCE_MS: '250',
      RECONCILE_CRON: '* * * * *',
      IDEMPOTENCY_LEASE_MS: '5000',
      CLAIM_LEASE_MS: '600000',
      CLAIM_LEASE_MAX_MS: '86400000',
      CLAIM_SWEEP_MS: '5000',
      TASK_MAX_DEPENDENCIES: '100',
      TASK_MAX_DEPENDENTS: '200',
      SHUTDOWN_DRAIN_DELAY_MS: '5000',
    });
    // the chart's defaults are the code's, except the shutdown timings (the chart has a preStop and a drain)
    const code = loadConfig({});
    const chart = loadConfig({ ...defaults });
    for (const key of ['PRINCIPAL_CACHE_TTL_MS', 'PRINCIPAL_CACHE_MAX_ENTRIES', 'RATE_LIMIT_LEASE_DIVISOR', 'RATE_LIMIT_LOCAL_KEYS', 'LEGACY_LIST_MAX', 'SESSION_UPDATE_COALESCE_MS', 'RECONCILE_CRON', 'IDEMPOTENCY_LEASE_MS', 'CLAIM_LEASE_MS', 'CLAIM_LEASE_MAX_MS', 'CLAIM_SWEEP_MS', 'TASK_MAX_DEPENDENCIES', 'TASK_MAX_DEPENDENTS'] as const) {
      expect(chart[key], key).toEqual(code[key]);
    }
  });
});
