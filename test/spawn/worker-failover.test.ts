import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { useHarness } from '../helpers/use-harness.js';

const root = resolve(import.meta.dirname, '../..');
const CLI = join(root, 'dist/cli/index.js');
const h = useHarness({ SPAWN_WAIT_MS: '0' });
const workers: ApiProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
});

const workerEnv = (extra: Record<string, string>) => ({
  SERVER_URL: h.base,
  SESSION_DIR: h.config.SESSION_DIR,
  DATA_DIR: h.config.DATA_DIR,
  MAESTRO_CLI_PATH: CLI,
  SPAWN_LOCK_MS: '1500',
  ...extra,
});

describe('a worker killed mid-spawn (kill -9)', () => {
  it('another worker finishes the job: exactly one manifest and one session:spawn', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'failover-')), 'started');
    const slow = await startWorkerProcess(
      h.testRedis.url,
      h.prefix,
      workerEnv({ MAESTRO_CLI_PATH: join(root, 'test/fixtures/slow-cli.mjs'), SLOW_CLI_MS: '3000', SLOW_CLI_MARKER: marker, SLOW_CLI_REAL: CLI }),
    );
    workers.push(slow);
    const pid = (await h.req('POST', '/api/v1/projects', { name: 'failover' })).body.id;
    const tid = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' })).body.id;
    const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [tid] });
    expect(r.status).toBe(202);
    const sid = r.body.sessionId;
    for (let i = 0; i < 200 && !existsSync(marker); i++) await new Promise((res) => setTimeout(res, 25));
    expect(existsSync(marker)).toBe(true); // the job is running on the slow worker
    await slow.kill('SIGKILL');

    const rescuer = await startWorkerProcess(h.testRedis.url, h.prefix, workerEnv({}));
    workers.push(rescuer);
    let spawnEvents: unknown[] = [];
    for (let i = 0; i < 300 && spawnEvents.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 50));
      spawnEvents = (await h.events(pid)).filter((e) => e.type === 'session:spawn');
    }
    // let the orphaned slow CLI finish too: it must not add a second manifest or event
    await new Promise((res) => setTimeout(res, 3500));
    const evs = await h.events(pid);
    expect(evs.filter((e) => e.type === 'session:spawn')).toHaveLength(1);
    expect(evs.filter((e) => e.type === 'task:session_added')).toHaveLength(1);
    const session = (await h.req('GET', `/api/v1/sessions/${sid}`)).body;
    expect(session.env.MAESTRO_SESSION_ID).toBe(sid);
    const manifest = (await h.req('GET', `/api/v1/sessions/${sid}/manifest`)).body;
    expect(manifest.templateId).toMatch(/^tmpl_/);
    expect(JSON.parse(readFileSync(join(h.config.SESSION_DIR, sid, 'manifest.json'), 'utf8'))).toEqual(manifest);
  }, 40_000);
});
