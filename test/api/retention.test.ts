import { describe, expect, it } from 'vitest';
import { createStores } from '../../src/shared/stores/index.js';
import { startWorkerProcess } from '../helpers/processes.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

async function setup() {
  const p = (await h.req('POST', '/api/projects', { name: 'retention' })).body;
  const t = (await h.req('POST', '/api/tasks', { projectId: p.id, title: 't' })).body;
  const mk = async (name: string, status?: string) => {
    const s = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [t.id], name })).body;
    if (status) await h.req('PATCH', `/api/sessions/${s.id}`, { status });
    return s.id as string;
  };
  return { p, t, done: await mk('done', 'completed'), failed: await mk('failed', 'failed'), live: await mk('live', 'working'), idle: await mk('idle') };
}
const ids = (r: { body: { id: string }[] }) => r.body.map((s) => s.id).sort();

describe('session retention (issue 6)', () => {
  it('archives finished sessions out of the lists; they stay readable by id and from their tasks', async () => {
    const { p, t, done, failed, live, idle } = await setup();
    const stores = createStores(h.redis, h.config);
    // nothing finished before a cutoff in the past
    expect(await stores.sessions.archiveFinished(p.id, Date.now() - 60_000)).toBe(0);
    const eventsBefore = (await h.events(p.id)).length;
    expect(await stores.sessions.archiveFinished(p.id, Date.now() + 1000)).toBe(2);
    expect(await stores.sessions.archiveFinished(p.id, Date.now() + 1000)).toBe(0); // idempotent
    expect((await h.events(p.id)).length).toBe(eventsBefore);

    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}`))).toEqual([live, idle].sort());
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&status=completed`))).toEqual([]);
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&active=true`))).toEqual([live, idle].sort());
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&archived=true`))).toEqual([done, failed].sort());
    const got = await h.req('GET', `/api/sessions/${done}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: done, status: 'completed', taskIds: [t.id] });
    expect(typeof got.body.archivedAt).toBe('number');
    // links on both sides are kept
    expect((await h.req('GET', `/api/tasks/${t.id}`)).body.sessionIds.sort()).toEqual([done, failed, live, idle].sort());
    expect(ids(await h.req('GET', `/api/sessions?taskId=${t.id}`))).toEqual([done, failed, live, idle].sort());

    // a PATCH brings an archived session back
    const back = await h.req('PATCH', `/api/sessions/${failed}`, { status: 'working' });
    expect(back.status).toBe(200);
    expect(back.body.archivedAt).toBeUndefined();
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}`))).toEqual([failed, live, idle].sort());
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&status=working`))).toEqual([failed, live].sort());
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&archived=true`))).toEqual([done]);

    // deleting an archived session removes it everywhere
    expect((await h.req('DELETE', `/api/sessions/${done}`)).status).toBe(200);
    expect((await h.req('GET', `/api/sessions/${done}`)).status).toBe(404);
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&archived=true`))).toEqual([]);
    expect((await h.req('GET', `/api/tasks/${t.id}`)).body.sessionIds.sort()).toEqual([failed, live, idle].sort());
  });

  it('a project whose only sessions are archived can be deleted, taking them along', async () => {
    const p = (await h.req('POST', '/api/projects', { name: 'old' })).body;
    const s = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [], name: 'x' })).body;
    await h.req('PATCH', `/api/sessions/${s.id}`, { status: 'completed' });
    expect((await h.req('DELETE', `/api/projects/${p.id}`)).status).toBe(422);
    await createStores(h.redis, h.config).sessions.archiveFinished(p.id, Date.now() + 1000);
    expect((await h.req('DELETE', `/api/projects/${p.id}`)).status).toBe(200);
    expect((await h.req('GET', `/api/sessions/${s.id}`)).status).toBe(404);
    const left = await h.redis.keys(`${h.prefix}{${p.id}}:session*`);
    expect(left).toEqual([]);
    expect(await h.redis.exists(`${h.prefix}lookup:session:${s.id}`)).toBe(0);
  });

  it('the worker runs retention on its schedule (RETENTION_CRON, SESSION_RETENTION_DAYS)', async () => {
    const p = (await h.req('POST', '/api/projects', { name: 'scheduled' })).body;
    const s = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [], name: 'x' })).body;
    const keep = (await h.req('POST', '/api/sessions', { projectId: p.id, taskIds: [], name: 'y' })).body;
    await h.req('PATCH', `/api/sessions/${s.id}`, { status: 'stopped' });
    // 0.00002 days = 1.728 s
    const w = await startWorkerProcess(h.testRedis.url, h.prefix, { RETENTION_CRON: '* * * * * *', SESSION_RETENTION_DAYS: '0.00002', METRICS_PORT: '0' });
    try {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && ids(await h.req('GET', `/api/sessions?projectId=${p.id}&archived=true`)).length === 0) {
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await w.kill('SIGTERM');
    }
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}&archived=true`))).toEqual([s.id]);
    expect(ids(await h.req('GET', `/api/sessions?projectId=${p.id}`))).toEqual([keep.id]);
    const off = await startWorkerProcess(h.testRedis.url, h.prefix, { RETENTION_CRON: 'off', METRICS_PORT: '0' });
    await new Promise((r) => setTimeout(r, 300));
    await off.kill('SIGTERM');
  }, 30_000);
});
