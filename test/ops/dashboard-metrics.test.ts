import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/shared/metrics.js';
import { CHART, findHelm, helmTemplate, NO_HELM_MESSAGE } from '../helpers/helm.js';
import { startApiProcess, startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

// Issue 16: the chart's Grafana dashboard and alerts query only what a live API and worker export.
const root = resolve(import.meta.dirname, '../..');
const helm = findHelm();
if (!helm) console.warn(`${NO_HELM_MESSAGE} (the alert expressions come from the rendered PrometheusRule)`);

/** Labels Prometheus adds to every scraped series (target labels), and its own `up` series. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'job', 'instance', 'container', 'service', 'endpoint']);
const PROMETHEUS_SERIES = new Set(['up']);

/** What a PromQL expression reads: syntax errors (lezer error nodes), metric names and label names. */
function analyse(expr: string): { errors: string[]; metrics: string[]; labels: string[] } {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics: string[] = [];
  const labels: string[] = [];
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(`at ${n.from}: '${expr.slice(Math.max(0, n.from - 10), n.to + 10)}'`);
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(n.from, n.to));
      if (n.name === 'LabelName') labels.push(expr.slice(n.from, n.to));
    },
  });
  return { errors, metrics, labels };
}

/** Grafana's variables, replaced by values of their kind before parsing. */
const grafanaVars = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$namespace', 'maestro');

interface Exported {
  names: Set<string>;
  labels: Set<string>;
}

/** Metric names (a histogram's _bucket/_sum/_count included) and label names of Prometheus text. */
function exported(text: string, into: Exported): void {
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [name, type] = [m[1]!, m[2]!];
    into.names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) into.names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) into.names.add(name + s);
  }
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    into.names.add(/^[\w:]+/.exec(line)![0]);
    for (const lm of line.matchAll(/[{,](\w+)="/g)) into.labels.add(lm[1]!);
  }
}

let redis: TestRedis;
let api: ApiProcess;
let worker: ApiProcess;
const live: Exported = { names: new Set(), labels: new Set() };

beforeAll(async () => {
  redis = await startRedis();
  // as in the chart: METRICS_PORT on both (the API's operations port answers /metrics without a token)
  api = await startApiProcess(redis.url, 'dash:', { METRICS_PORT: '0', LOG_FORMAT: 'json' });
  worker = await startWorkerProcess(redis.url, 'dash:', { METRICS_PORT: '0', LOG_FORMAT: 'json', SERVER_URL: api.base, MAESTRO_CLI_PATH: join(root, 'dist/cli/index.js') });
  await fetch(`${api.base}/api/v1/projects`); // one request, so the HTTP histogram has a series
  const apiMetrics = api.logs.find((l) => typeof l.metricsPort === 'number')!.metricsPort as number;
  const workerMetrics = worker.logs.find((l) => typeof l.metricsPort === 'number')!.metricsPort as number;
  for (const port of [apiMetrics, workerMetrics]) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    exported(await res.text(), live);
  }
  // A labelled family shows its labels only once it has a sample (a failed spawn, a refused
  // connection): the label names are also taken from the families' declarations (src/shared/metrics.ts).
  for (const m of new Metrics('api').registry.getMetricsAsArray()) {
    for (const l of (m as unknown as { labelNames?: string[] }).labelNames ?? []) live.labels.add(l);
  }
}, 60_000);
afterAll(async () => {
  await worker?.kill('SIGTERM');
  await api?.kill('SIGTERM');
  await redis?.stop();
});

/** Every problem of `exprs`: syntax errors, metrics not exported, labels neither exported nor Prometheus'. */
function problems(exprs: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [where, expr] of Object.entries(exprs)) {
    const a = analyse(expr);
    for (const e of a.errors) out.push(`${where}: syntax error ${e}`);
    if (!a.metrics.length) out.push(`${where}: reads no metric`);
    for (const m of a.metrics) if (!live.names.has(m) && !PROMETHEUS_SERIES.has(m)) out.push(`${where}: ${m} is not exported`);
    for (const l of a.labels) if (!live.labels.has(l) && !TARGET_LABELS.has(l) && l !== 'le') out.push(`${where}: label ${l} is not exported`);
  }
  return out;
}

describe('the chart\'s dashboard and alerts read what the API and worker export (live /metrics)', () => {
  it('the parser and the check fail what they should', () => {
    expect(analyse('sum(rate(http_requests_total[5m])').errors.length).toBeGreaterThan(0);
    expect(analyse('sum by (le) (rate(x_bucket{a="b"}[5m])) > 1')).toEqual({ errors: [], metrics: ['x_bucket'], labels: ['le', 'a'] });
    expect(problems({ bad: 'rate(maestro_no_such_metric_total[5m])' })).toEqual(['bad: maestro_no_such_metric_total is not exported']);
    expect(live.names.has('http_request_duration_seconds_bucket')).toBe(true);
    expect(live.names.has('maestro_spawn_jobs_total')).toBe(true); // the worker's
  });

  it('every query of dashboards/maestro.json parses and reads exported metrics and labels; the panels cover the operator\'s list', () => {
    const dash = JSON.parse(readFileSync(resolve(CHART, 'dashboards/maestro.json'), 'utf8'));
    const exprs: Record<string, string> = {};
    for (const p of dash.panels) for (const t of p.targets ?? []) exprs[`${p.title} ${t.refId}`] = grafanaVars(t.expr);
    for (const v of dash.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = /^label_values\((\w+), *(\w+)\)$/.exec(q ?? '');
      if (v.type === 'query') {
        expect(m, `variable ${v.name}`).not.toBeNull();
        exprs[`variable ${v.name}`] = m![1]!;
      }
    }
    expect(Object.keys(exprs).length).toBeGreaterThanOrEqual(20);
    expect(problems(exprs)).toEqual([]);
    const read = new Set(Object.values(exprs).flatMap((e) => analyse(e).metrics));
    for (const m of [
      'http_request_duration_seconds_count', // request rate by status, 5xx rate
      'http_request_duration_seconds_bucket', // p99 latency
      'maestro_ws_connections',
      'maestro_ws_clients_dropped_slow_total',
      'maestro_spawn_jobs_total',
      'maestro_queue_jobs',
      'maestro_queue_oldest_waiting_seconds', // backlog age (MaestroQueueBacklog)
      'maestro_redis_up',
      'maestro_redis_command_errors_total',
      'maestro_backup_last_success_timestamp_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(read, m).toContain(m);
    }
  });

  it.runIf(!!helm)('every alert of the rendered PrometheusRule parses and reads exported metrics and labels; the operator\'s alerts are all there', () => {
    const r = helmTemplate(helm!, { prometheusRule: { enabled: true }, backup: { cron: '0 3 * * *' } });
    expect(r.status, r.stderr).toBe(0);
    const rule = r.objects.find((o) => o.kind === 'PrometheusRule')!;
    const rules = rule.spec.groups.flatMap((g: { rules: { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }[] }) => g.rules);
    expect(problems(Object.fromEntries(rules.map((x: { alert: string; expr: string }) => [x.alert, x.expr])))).toEqual([]);
    for (const x of rules) {
      expect(['warning', 'critical'], x.alert).toContain(x.labels.severity);
      expect(x.annotations.summary, x.alert).toBeTruthy();
    }
    const names = rules.map((x: { alert: string }) => x.alert);
    expect(names).toEqual(
      expect.arrayContaining(['MaestroAPIReplicaDown', 'MaestroWorkerDown', 'MaestroRedisDown', 'MaestroHigh5xxRate', 'MaestroHighP99Latency', 'MaestroSpawnFailures', 'MaestroQueueBacklog', 'MaestroBackupTooOld', 'MaestroWebSocketSlowDrops']),
    );
    // the up{job=…} selectors name the jobs the ServiceMonitor and PodMonitor make
    const exprOf = (a: string) => rules.find((x: { alert: string }) => x.alert === a)!.expr as string;
    expect(exprOf('MaestroAPIReplicaDown')).toContain('job="m-maestro"'); // a ServiceMonitor's job: the Service's name
    expect(r.objects.some((o) => o.kind === 'Service' && o.metadata.name === 'm-maestro')).toBe(true);
    expect(exprOf('MaestroWorkerDown')).toContain('job="maestro/m-maestro-worker"'); // a PodMonitor's: <namespace>/<name>
  });
});
