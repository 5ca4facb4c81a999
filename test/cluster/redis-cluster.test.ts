import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { hasRedisBinaries, startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { call } from '../helpers/processes.js';
import type { Cluster } from 'ioredis';
import { restoreBackup } from '../../src/shared/backup/backup.js';
import { backupLines } from '../helpers/backup-lines.js';
import { createRedis } from '../../src/shared/redis-connection.js';


const enabled = hasRedisBinaries();
let cluster: TestRedisCluster;
let api: ApiServer;
let base: string;

beforeAll(async () => {
  if (!enabled) return;
  cluster = await startRedisCluster();
  api = await startApi(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', REDIS_URL: cluster.url, MAESTRO_AUTH: 'disabled', LOG_LEVEL: 'silent', MAESTRO_REDIS_PREFIX: 'ct:' }),
    createLogger('cluster-test', 'silent'),
  );
  base = `http://127.0.0.1:${api.port}`;
  for (let i = 0; i < 100 && (await call(base, 'GET', '/ready')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
}, 60_000);
afterAll(async () => {
  await api?.close();
  await cluster?.stop();
});

describe.runIf(enabled)('on a 3-master Redis Cluster', () => {
  it('every atomic step stays in one slot: projects, tasks, sessions, links, lists and deletes all work', async () => {
    const projects = [];
    for (const name of ['a', 'b', 'c', 'd']) projects.push(await call(base, 'POST', '/api/v1/projects', { name }));
    expect(projects.map((p) => p.status)).toEqual([201, 201, 201, 201]);
    const taskIds: string[] = [];
    for (const p of projects) {
      const t = await call(base, 'POST', '/api/v1/tasks', { projectId: p.body.id, title: `task of ${p.body.name}` });
      expect(t.status).toBe(201);
      const child = await call(base, 'POST', '/api/v1/tasks', { projectId: p.body.id, title: 'child', parentId: t.body.id });
      expect(child.status).toBe(201);
      taskIds.push(t.body.id);
      const s = await call(base, 'POST', '/api/v1/sessions', { projectId: p.body.id, taskIds: [t.body.id] });
      expect(s.status).toBe(201);
      expect((await call(base, 'PATCH', `/api/v1/sessions/${s.body.id}`, { status: 'completed', env: { A: '1' } })).status).toBe(200);
      expect((await call(base, 'DELETE', `/api/v1/sessions/${s.body.id}/tasks/${t.body.id}`)).status).toBe(200);
      expect((await call(base, 'POST', `/api/v1/sessions/${s.body.id}/timeline`, { message: 'hi' })).status).toBe(200);
      expect((await call(base, 'PATCH', `/api/v1/tasks/${t.body.id}`, { status: 'in_progress' })).status).toBe(200);
    }
    const all = await call(base, 'GET', '/api/v1/tasks?limit=3');
    expect(all.status).toBe(200);
    expect(all.headers.get('x-total-count')).toBe('8');
    const roots = await call(base, 'GET', '/api/v1/tasks?parentId=null&status=in_progress');
    expect(roots.body.map((t: { id: string }) => t.id)).toEqual(taskIds);
    const sessions = await call(base, 'GET', '/api/v1/sessions?status=completed');
    expect(sessions.body).toHaveLength(4);
    const listed = await call(base, 'GET', '/api/v1/projects');
    expect(listed.body.map((p: { name: string }) => p.name)).toEqual(['a', 'b', 'c', 'd']);
    const blocked = await call(base, 'DELETE', `/api/v1/projects/${projects[0]!.body.id}`);
    expect(blocked.status).toBe(422);

  });

  it('backs up (optimistic and atomic-copy reads) and restores under another prefix, keys on every master', async () => {
    const redis = createRedis(cluster.url) as Cluster;
    try {
      const optimistic = await backupLines(redis, 'ct:');
      const copied = await backupLines(redis, 'ct:', 0);
      expect(copied).toEqual(optimistic);
      const text = optimistic.map((l) => JSON.stringify(l)).join('\n') + '\n';
      const { Readable } = await import('node:stream');
      const summary = await restoreBackup(redis, 'ct2:', Readable.from([text]));
      expect(summary.keys).toBeGreaterThan(40);
      expect(await backupLines(redis, 'ct2:')).toEqual(optimistic);
      // what the API serves from the restored prefix equals the original
      const other = await startApi(
        loadConfig({ PORT: '0', HOST: '127.0.0.1', REDIS_URL: cluster.url, MAESTRO_AUTH: 'disabled', LOG_LEVEL: 'silent', MAESTRO_REDIS_PREFIX: 'ct2:' }),
        createLogger('cluster-test', 'silent'),
      );
      try {
        const otherBase = `http://127.0.0.1:${other.port}`;
        // a fresh Cluster client answers 503 until it has the slot map
        for (let i = 0; i < 100 && (await call(otherBase, 'GET', '/ready')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
        for (const path of ['/api/v1/projects', '/api/v1/tasks?limit=100', '/api/v1/sessions', '/api/v1/templates']) {
          expect((await call(otherBase, 'GET', path)).body).toEqual((await call(base, 'GET', path)).body);
        }
      } finally {
        await other.close();
      }
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('rate limits hold on a Cluster (the limiter script is loaded on every master, not one)', async () => {
    const limited = await startApi(
      loadConfig({ PORT: '0', HOST: '127.0.0.1', REDIS_URL: cluster.url, MAESTRO_AUTH: 'disabled', LOG_LEVEL: 'silent', MAESTRO_REDIS_PREFIX: `rl${Date.now()}:`, RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0' }),
      createLogger('cluster-test', 'silent'),
    );
    try {
      const lbase = `http://127.0.0.1:${limited.port}`;
      // a fresh Cluster client answers 503 until it has the slot map (not rate limited: /ready is outside /api)
      for (let i = 0; i < 100 && (await call(lbase, 'GET', '/ready')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await call(lbase, 'GET', '/api/v1/projects')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await limited.close();
    }
  }, 30_000);
});
