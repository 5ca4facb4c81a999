import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { useHarness } from '../helpers/use-harness.js';
import { connect } from '../helpers/ws-client.js';

const root = resolve(import.meta.dirname, '../..');
const h = useHarness();
let worker: ApiProcess;
let workerMetricsPort: number;
beforeAll(async () => {
  worker = await startWorkerProcess(h.testRedis.url, h.prefix, {
    SERVER_URL: h.base,
    SESSION_DIR: h.config.SESSION_DIR,
    MAESTRO_CLI_PATH: join(root, 'dist/cli/index.js'),
    METRICS_PORT: '0',
  });
  workerMetricsPort = worker.logs.find((l) => typeof l.metricsPort === 'number')!.metricsPort as number;
});
afterAll(async () => {
  await worker?.kill('SIGTERM');
});

/** Parses Prometheus text: family name → type, and samples as `{ name, labels, value }`. */
function parse(text: string) {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  const samples = text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([\w:]+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
      const labels: Record<string, string> = {};
      for (const lm of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[lm[1]!] = lm[2]!;
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
  return { types, samples };
}

/** The value of the sample `name` whose labels include `labels`, or undefined. */
function value(samples: ReturnType<typeof parse>['samples'], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('/metrics', () => {
  it('the API exposes process, HTTP, WebSocket, event, queue and Redis families with the right types and no ids in labels', async () => {
    const ws = await connect(h.base.replace('http', 'ws') + '/');
    const p = (await h.req('POST', '/api/v1/projects', { name: 'm' })).body;
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' })).body;
    await h.req('GET', `/api/v1/tasks/${t.id}`);
    await h.req('GET', '/api/v1/nope');
    const spawned = await h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] });
    expect(spawned.status).toBe(201);
    await ws.until(() => ws.events().length >= 4);
    const res = await fetch(`${h.base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const { types, samples } = parse(text);
    expect(types.get('http_request_duration_seconds')).toBe('histogram');
    expect(types.get('http_requests_in_flight')).toBe('gauge');
    expect(types.get('maestro_ws_connections')).toBe('gauge');
    expect(types.get('maestro_ws_messages_sent_total')).toBe('counter');
    expect(types.get('maestro_ws_clients_dropped_slow_total')).toBe('counter');
    expect(types.get('maestro_ws_replays_total')).toBe('counter');
    expect(types.get('maestro_events_published_total')).toBe('counter');
    expect(types.get('maestro_queue_jobs')).toBe('gauge');
    expect(types.get('maestro_redis_up')).toBe('gauge');
    expect(types.get('maestro_redis_command_errors_total')).toBe('counter');
    expect(types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(value(samples, 'http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/tasks/:id', status_code: '200', component: 'api' })).toBe(1);
    expect(value(samples, 'http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(value(samples, 'maestro_events_published_total', { type: 'task:created', component: 'api' })).toBe(1);
    expect(value(samples, 'maestro_ws_connections', { component: 'api' })).toBe(1);
    expect(value(samples, 'maestro_redis_up', {})).toBe(1);
    expect(value(samples, 'maestro_queue_jobs', { state: 'completed' })).toBe(1);
    for (const id of [p.id, t.id, spawned.body.sessionId]) expect(text).not.toContain(id);
    await ws.close();
  });

  it('the worker exposes spawn jobs by result and their duration at METRICS_PORT', async () => {
    const text = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
    const { types, samples } = parse(text);
    expect(types.get('maestro_spawn_jobs_total')).toBe('counter');
    expect(types.get('maestro_spawn_job_duration_seconds')).toBe('histogram');
    expect(value(samples, 'maestro_spawn_jobs_total', { result: 'completed', component: 'worker' })).toBe(1);
    expect(value(samples, 'maestro_events_published_total', { type: 'session:spawn', component: 'worker' })).toBe(1);
    expect(value(samples, 'maestro_queue_jobs', { state: 'completed', component: 'worker' })).toBe(1);
  });
});
