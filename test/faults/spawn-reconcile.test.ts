import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { waitFor } from '../helpers/fault-kit.js';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 13, item 4: a spawn could stay `spawning` forever — when its job was never queued (the enqueue
 * failed, or the job was removed), or when its attempts ran out during a Redis write outage and
 * marking it failed failed too. The reconciler (a scheduled job on the workers: RECONCILE_CRON)
 * finishes such sessions: `failed`, with `metadata.error` and a `session:updated`. A real worker
 * process; the API in process.
 */
const root = resolve(import.meta.dirname, '../..');
let redis: TestRedis;
let h: Harness;
let worker: ApiProcess | undefined;
let queue: Queue;

beforeAll(async () => {
  redis = await startRedis();
  h = await startHarness(redis.url, { SPAWN_WAIT_MS: '0' });
  queue = new Queue('spawn', { connection: { url: redis.url } as never, prefix: `${h.prefix}{bullmq}` });
});
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await queue?.close();
  await h?.close();
  await redis?.stop();
});

async function spawning(pid: string) {
  const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' })).body;
  const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [t.id] });
  expect(r.status).toBe(202);
  return r.body.sessionId as string;
}

describe('fault: spawns left spawning', () => {
  it('a spawn whose job is gone, and one whose job failed for good without its session being marked, end failed with metadata.error and session:updated', async () => {
    const p = (await h.req('POST', '/api/v1/projects', { name: 'reconcile' })).body;
    const before = (await h.events(p.id)).length;
    // 1. never queued: the job is gone before any worker saw it
    const lost = await spawning(p.id);
    await (await queue.getJob(lost))!.remove();
    // 2. failed for good, but "marking it failed failed": the worker fails it, then the session is
    //    put back to spawning and back in flight, as the outage left it
    worker = await startWorkerProcess(redis.url, h.prefix, {
      SERVER_URL: h.base,
      SESSION_DIR: h.config.SESSION_DIR,
      METRICS_PORT: '0',
      SPAWN_ATTEMPTS: '1',
      MAESTRO_CLI_PATH: join(root, 'test/fixtures/failing-cli.mjs'),
      RECONCILE_CRON: '* * * * * *',
      SPAWN_RECONCILE_AFTER_MS: '0',
    });
    const failed = await spawning(p.id);
    await waitFor(async () => (await queue.getJob(failed))?.failedReason !== undefined && (await h.req('GET', `/api/v1/sessions/${failed}`)).body.status === 'failed', 15_000, 'the failed job and its session marked failed');
    const key = `${h.prefix}{${p.id}}:session:${failed}`;
    await h.redis.hset(key, 'status', '"spawning"', 'metadata', '{}');
    await h.redis.del(`${key}:doc`); // read from the fields, as written outside a commit
    await h.redis.zadd(`${h.prefix}spawn-slots:all`, 0, failed);
    const left = Date.now();

    const finishedMs: number[] = [];
    for (const sid of [lost, failed]) {
      await waitFor(async () => (await h.req('GET', `/api/v1/sessions/${sid}`)).body.status === 'failed', 15_000, `session ${sid} failed`);
      finishedMs.push(Date.now() - left);
      const s = (await h.req('GET', `/api/v1/sessions/${sid}`)).body;
      expect(s.metadata.error).toMatch(/finished by the reconciler/);
      expect(s.completedAt).toEqual(expect.any(Number));
    }
    expect((await h.req('GET', `/api/v1/sessions/${lost}`)).body.metadata.error).toMatch(/never queued/);
    expect((await h.req('GET', `/api/v1/sessions/${failed}`)).body.metadata.error).toMatch(/Manifest generation failed/);
    const updates = (await h.events(p.id)).slice(before).filter((e) => e.type === 'session:updated' && e.data.status === 'failed' && /reconciler/.test(e.data.metadata?.error));
    expect([...new Set(updates.map((e) => e.data.id))].sort()).toEqual([failed, lost].sort());
    const stillSpawning = (await h.req('GET', `/api/v1/sessions?projectId=${p.id}&status=spawning`)).body.length;
    console.log('[fault 13.4: spawns left spawning (job gone; failed job, session not marked), reconciler every 1 s]', JSON.stringify({ spawns: 2, finishedMs, spawnsLeftSpawning: stillSpawning }));
    expect(stillSpawning).toBe(0);
    expect(await h.redis.zcard(`${h.prefix}spawn-slots:all`)).toBe(0);
  }, 60_000);
});
