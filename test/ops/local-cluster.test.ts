import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../src/local-cluster.js';
import { call } from '../helpers/processes.js';
import { connect } from '../helpers/ws-client.js';

const hasNginx = !spawnSync('nginx', ['-v'], { stdio: 'ignore' }).error;
if (!hasNginx) console.warn('local cluster test skipped: nginx is not on PATH (apt-get install nginx-light)');
let cluster: LocalCluster;

beforeAll(async () => {
  if (hasNginx) cluster = await startLocalCluster({ env: { MAESTRO_AUTH: 'disabled' } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe.runIf(hasNginx)('npm run cluster (redis + 2 API replicas + worker + nginx on loopback)', () => {
  it('requests through nginx reach both replicas', async () => {
    const nodes = new Set<string>();
    for (let i = 0; i < 10; i++) nodes.add((await call(cluster.url, 'GET', '/health')).body.nodeId);
    expect([...nodes].sort()).toEqual(['api1', 'api2']);
  });

  it('a WebSocket through nginx gets the events of writes through nginx, and a spawn completes on the worker', async () => {
    const ws = await connect(cluster.url.replace('http', 'ws') + '/');
    const p = (await call(cluster.url, 'POST', '/api/v1/projects', { name: 'through nginx' })).body;
    const t = (await call(cluster.url, 'POST', '/api/v1/tasks', { projectId: p.id, title: 't' })).body;
    const s = await call(cluster.url, 'POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] });
    expect(s.status).toBe(201);
    // the spawn's last event: its frames may reach the client through nginx in separate reads
    await ws.until(() => ws.events().some((e) => e.type === 'task:session_added'));
    expect(ws.events().map((e) => e.type)).toEqual(['project:created', 'task:created', 'session:updated', 'session:spawn', 'task:session_added']);
    await ws.close();
  });
});
