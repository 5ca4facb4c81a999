import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { startWorker, type WorkerProcess } from '../../src/worker/index.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const root = resolve(import.meta.dirname, '../..');
const fixture = (name: string) => join(root, 'test/fixtures', name);
let redis: TestRedis;
const running: { h: Harness; w: WorkerProcess }[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const { h, w } of running) {
    await w.close();
    await h.close();
  }
  await redis?.stop();
});

/** An API replica and an in-process worker on a fresh prefix, the worker configured by `env`. */
async function cluster(env: Record<string, string>, apiEnv: Record<string, string> = {}) {
  const h = await startHarness(redis.url, { SPAWN_WAIT_MS: '20000', SPAWN_ATTEMPTS: env.SPAWN_ATTEMPTS ?? '1', SPAWN_BACKOFF_MS: '50', ...apiEnv });
  const config = loadConfig({
    REDIS_URL: redis.url,
    MAESTRO_REDIS_PREFIX: h.prefix,
    SERVER_URL: h.base,
    SESSION_DIR: h.config.SESSION_DIR,
    DATA_DIR: h.config.DATA_DIR,
    LOG_LEVEL: 'silent',
    MAESTRO_CLI_PATH: join(root, 'dist/cli/index.js'),
    ...env,
  });
  const w = await startWorker(config, createLogger('worker-test', 'silent'));
  running.push({ h, w });
  const pid = (await h.req('POST', '/api/v1/projects', { name: 'p', workingDir: '/work/x' })).body.id as string;
  const tid = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' })).body.id as string;
  return { h, pid, tid };
}

/** Spawns and expects the final failure: 500, session failed with metadata.error, only session:updated. */
async function expectFailure(c: Awaited<ReturnType<typeof cluster>>, reason: RegExp) {
  const r = await c.h.req('POST', '/api/v1/sessions/spawn', { projectId: c.pid, taskIds: [c.tid] });
  expect(r.status).toBe(500);
  expect(r.body).toEqual({ error: true, code: 'manifest_generation_failed', message: expect.stringMatching(/^Failed to generate manifest: /) });
  expect(r.body.message.slice('Failed to generate manifest: '.length)).toMatch(reason);
  const [s] = (await c.h.req('GET', `/api/v1/sessions?taskId=${c.tid}`)).body;
  expect(s).toMatchObject({ status: 'failed', env: {}, metadata: { error: expect.stringMatching(reason) } });
  const evs = (await c.h.events(c.pid)).filter((e) => e.type.startsWith('session:'));
  expect(evs.map((e) => e.type)).toEqual(['session:updated']);
  expect((await c.h.req('GET', `/api/v1/sessions/${s.id}/manifest`)).status).toBe(404);
  return s;
}

describe('spawn failures end with the session failed and the reason (contract 00 "Spawn", 04 outcome table)', () => {
  it('CLI timeout', async () => {
    process.env.SLOW_CLI_MS = '5000';
    process.env.SLOW_CLI_REAL = join(root, 'dist/cli/index.js');
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('slow-cli.mjs'), MANIFEST_TIMEOUT_MS: '300' });
    await expectFailure(c, /^Manifest generation timed out after 300 ms$/);
  });

  it('CLI missing', async () => {
    const c = await cluster({ MAESTRO_CLI_PATH: '/nonexistent/maestro' });
    await expectFailure(c, /^Failed to spawn maestro CLI: .*ENOENT/);
  });

  it('CLI exits non-zero: its stderr is the reason', async () => {
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('failing-cli.mjs') });
    await expectFailure(c, /^Manifest generation failed \(exit code 1\): Task task_x not found in local storage/);
  });

  it('CLI writes an invalid manifest', async () => {
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('garbage-cli.mjs') });
    await expectFailure(c, /^Failed to read manifest: invalid manifest: /);
  });

  it('retries with backoff: a failing CLI runs SPAWN_ATTEMPTS times before the session fails', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'attempts-')), 'runs');
    process.env.SLOW_CLI_MS = '0';
    process.env.SLOW_CLI_MARKER = marker;
    process.env.SLOW_CLI_REAL = fixture('failing-cli.mjs');
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('slow-cli.mjs'), SPAWN_ATTEMPTS: '3' });
    await expectFailure(c, /exit code 1/);
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(3);
    delete process.env.SLOW_CLI_MARKER;
  });
});

describe('the CLI the worker runs (issue 14 §3)', () => {
  it('by default this package\'s own, never a `maestro` found on PATH (an original CLI there failed every spawn)', async () => {
    const stranger = mkdtempSync(join(tmpdir(), 'stranger-'));
    writeFileSync(join(stranger, 'maestro'), '#!/bin/sh\necho "Task not found in local storage" >&2\nexit 1\n', { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${stranger}:${path}`;
    try {
      const c = await cluster({ MAESTRO_CLI_PATH: '' });
      const r = await c.h.req('POST', '/api/v1/sessions/spawn', { projectId: c.pid, taskIds: [c.tid] });
      expect(r.status).toBe(201);
      expect(r.body.manifest.tasks[0].id).toBe(c.tid);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('a failing spawn retried by its client (issue 14: the original CLI retries every 5xx three times)', () => {
  it('without an Idempotency-Key: the same request retries the same session, never one failed session per try; another request is another spawn', async () => {
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('failing-cli.mjs'), SPAWN_ATTEMPTS: '1' });
    const body = { projectId: c.pid, taskIds: [c.tid], sessionName: 'retried' };
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) answers.push((await c.h.req('POST', '/api/sessions/spawn', body)).status);
    expect(answers).toEqual([500, 500, 500, 500]);
    const sessions = (await c.h.req('GET', `/api/v1/sessions?taskId=${c.tid}`)).body;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ status: 'failed', metadata: { error: expect.stringMatching(/exit code 1/) } });
    expect((await c.h.req('GET', `/api/v1/tasks/${c.tid}`)).body.sessionIds).toEqual([sessions[0].id]);
    // each try ran the job again: failed → spawning → failed, in events
    const statuses = (await c.h.events(c.pid)).filter((e) => e.type === 'session:updated').map((e) => e.data.status);
    expect(statuses).toEqual(['failed', 'spawning', 'failed', 'spawning', 'failed', 'spawning', 'failed']);
    expect((await c.h.req('POST', '/api/sessions/spawn', { ...body, sessionName: 'another' })).status).toBe(500);
    expect((await c.h.req('GET', `/api/v1/sessions?taskId=${c.tid}`)).body).toHaveLength(2);
  });
});

describe('waiting', () => {
  it('a wait that times out answers 202; the job goes on and session:spawn follows', async () => {
    process.env.SLOW_CLI_MS = '800';
    process.env.SLOW_CLI_REAL = join(root, 'dist/cli/index.js');
    const c = await cluster({ MAESTRO_CLI_PATH: fixture('slow-cli.mjs') }, { SPAWN_WAIT_MS: '100' });
    const r = await c.h.req('POST', '/api/v1/sessions/spawn', { projectId: c.pid, taskIds: [c.tid] });
    expect(r.status).toBe(202);
    expect(r.body.session.status).toBe('spawning');
    let spawned = false;
    for (let i = 0; i < 100 && !spawned; i++) {
      await new Promise((res) => setTimeout(res, 50));
      spawned = (await c.h.events(c.pid)).some((e) => e.type === 'session:spawn');
    }
    expect(spawned).toBe(true);
  });
});

describe('MANIFEST_GENERATOR=server', () => {
  it('builds the same manifest in the worker, without a child process', async () => {
    const c = await cluster({ MANIFEST_GENERATOR: 'server', MAESTRO_CLI_PATH: '/nonexistent/maestro' });
    const r = await c.h.req('POST', '/api/v1/sessions/spawn', { projectId: c.pid, taskIds: [c.tid], skills: ['a', 'b'] });
    expect(r.status).toBe(201);
    expect(r.body.manifest).toMatchObject({
      manifestVersion: '1.0',
      role: 'worker',
      tasks: [{ id: c.tid, acceptanceCriteria: ['Task completion as described'], parentId: null, dependencies: [], priority: 'medium' }],
      session: { model: 'sonnet', permissionMode: 'acceptEdits', thinkingMode: 'auto', workingDirectory: '/work/x' },
      context: { custom: { taskIds: [c.tid] } },
      skills: ['a', 'b'],
      strategy: 'simple',
      templateId: expect.stringMatching(/^tmpl_/),
    });
    expect(r.body.cwd).toBe('/work/x');
  });
});
