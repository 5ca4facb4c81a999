import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Security issue 11, items 3 and 4 (contract 00 "Spawn": bounded spawns): SPAWN_MAX_TASKS and
 * MANIFEST_MAX_BYTES refuse a spawn before anything is written; a user's spawns in flight are capped
 * (SPAWN_MAX_IN_FLIGHT_PER_USER → 429) and the queue serves users fairly. A real worker process runs
 * a CLI that takes 300 ms per manifest, one job at a time.
 */
const root = resolve(import.meta.dirname, '../..');
let redis: TestRedis;
let w: AuthWorld;
let worker: ApiProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url, { SPAWN_MAX_TASKS: '5', MANIFEST_MAX_BYTES: '20000', SPAWN_MAX_IN_FLIGHT_PER_USER: '6', MAX_TEXT_BYTES: '50000' });
});
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await w?.h.close();
  await redis?.stop();
});

async function projectWithTasks(token: string, n: number, description = '') {
  const p = (await w.h.req('POST', '/api/v1/projects', { name: 'spawn limits' }, as(token))).body;
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push((await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: `t${i}`, description }, as(token))).body.id as string);
  return { p, tasks };
}

describe('a spawn is bounded before anything is written (item 3)', () => {
  it('more than SPAWN_MAX_TASKS tasks → 400 invalid_task_ids; a manifest over MANIFEST_MAX_BYTES → 400 manifest_too_large; no session either way', async () => {
    const u = await w.user('big-spawner');
    const many = await projectWithTasks(u.token, 6);
    const r1 = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: many.p.id, taskIds: many.tasks }, as(u.token));
    expect([r1.status, r1.body.code]).toEqual([400, 'invalid_task_ids']);
    expect(r1.body.message).toMatch(/at most 5/);
    const big = await projectWithTasks(u.token, 3, 'x'.repeat(9000));
    const r2 = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: big.p.id, taskIds: big.tasks }, as(u.token));
    expect([r2.status, r2.body.code]).toEqual([400, 'manifest_too_large']);
    for (const p of [many.p, big.p]) expect((await w.h.req('GET', `/api/v1/sessions?projectId=${p.id}`, undefined, as(u.token))).body).toEqual([]);
    // two such tasks fit
    const ok = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: big.p.id, taskIds: big.tasks.slice(0, 2) }, { ...as(u.token), Prefer: 'respond-async' });
    expect(ok.status).toBe(202);
  });
});

describe('spawns in flight per user (item 4)', () => {
  it('the 7th spawn in flight of one user is 429 RATE_LIMITED; another user is served, ahead of the first user\'s burst', async () => {
    const a = await w.user('burst');
    const b = await w.user('patient');
    const pa = await projectWithTasks(a.token, 1);
    const pb = await projectWithTasks(b.token, 1);
    const async = (token: string) => ({ ...as(token), Prefer: 'respond-async' });
    // no worker yet: every spawn stays in flight
    const burst: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: pa.p.id, taskIds: pa.tasks }, async(a.token));
      expect(r.status).toBe(202);
      burst.push(r.body.sessionId);
    }
    const over = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: pa.p.id, taskIds: pa.tasks }, async(a.token));
    expect([over.status, over.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    const mine = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: pb.p.id, taskIds: pb.tasks }, async(b.token));
    expect(mine.status).toBe(202);

    worker = await startWorkerProcess(redis.url, w.h.prefix, {
      MAESTRO_AUTH: 'required',
      SERVER_URL: w.h.base,
      SESSION_DIR: w.h.config.SESSION_DIR,
      WORKER_CONCURRENCY: '1',
      METRICS_PORT: '0',
      MAESTRO_CLI_PATH: join(root, 'test/fixtures/slow-cli.mjs'),
      SLOW_CLI_MS: '300',
      SLOW_CLI_REAL: join(root, 'dist/cli/index.js'),
    });
    // completion order, read from the sessions' env (set by the spawn's atomic step)
    const done: string[] = [];
    const all = [...burst, mine.body.sessionId as string];
    const deadline = Date.now() + 30_000;
    while (done.length < all.length && Date.now() < deadline) {
      for (const id of all) {
        if (done.includes(id)) continue;
        const s = (await w.h.req('GET', `/api/v1/sessions/${id}`, undefined, as(w.adminKey))).body;
        if (s.env?.MAESTRO_SESSION_ID) done.push(id);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(done).toHaveLength(all.length);
    // the other user's spawn waited for at most one of the burst's (FIFO it would have been last)
    expect(done.indexOf(mine.body.sessionId)).toBeLessThanOrEqual(1);
    // slots are freed as spawns finish: the burst user may spawn again
    const again = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: pa.p.id, taskIds: pa.tasks }, async(a.token));
    expect(again.status).toBe(202);
  }, 60_000);
});
