import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { startWorker } from '../../src/worker/index.js';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect } from '../helpers/ws-client.js';

/**
 * Security issue 11, items 1, 6 and 19 (contract 00 "Spawn"): no credential is ever part of an entity,
 * an event, a job or an idempotency record another principal can read; the session key is answered
 * once, or minted by a writer; it dies with its session, is never wider than its spawner, and cannot
 * make its own session permanent. Real API replica, real worker running the real CLI generator.
 */
const root = resolve(import.meta.dirname, '../..');
let redis: TestRedis;
let w: AuthWorld;
let worker: Awaited<ReturnType<typeof startWorker>>;

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url, { SPAWN_WAIT_MS: '20000' });
  worker = await startWorker(
    loadConfig({
      REDIS_URL: redis.url,
      MAESTRO_REDIS_PREFIX: w.h.prefix,
      SERVER_URL: w.h.base,
      SESSION_DIR: w.h.config.SESSION_DIR,
      LOG_LEVEL: 'silent',
      METRICS_PORT: '0',
      MAESTRO_CLI_PATH: join(root, 'dist/cli/index.js'),
    }),
    createLogger('w', 'silent'),
  );
});
afterAll(async () => {
  await worker?.close();
  await w?.h.close();
  await redis?.stop();
});

/** Every value stored under the test's prefix, as one text (strings, hashes, lists, sets, zsets, streams). */
async function everythingStored(r: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const k of keys) {
      const type = await r.type(k);
      if (type === 'string') out.push((await r.get(k)) ?? '');
      else if (type === 'hash') out.push(JSON.stringify(await r.hgetall(k)));
      else if (type === 'list') out.push(JSON.stringify(await r.lrange(k, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await r.smembers(k)));
      else if (type === 'zset') out.push(JSON.stringify(await r.zrange(k, '0', '-1')));
      else if (type === 'stream') out.push(JSON.stringify(await r.xrange(k, '-', '+')));
    }
  } while (cursor !== '0');
  return out.join('\n');
}

/** A new user `name` owning a new project `project` that holds one task `t`. */
async function ownedTask(name: string, project: string) {
  const owner = await w.user(name);
  const p = (await w.h.req('POST', '/api/v1/projects', { name: project }, as(owner.token))).body;
  const t = (await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, as(owner.token))).body;
  return { owner, p, t };
}

const KEY_PATTERN = /mk_\w+\.[\w-]{20,}/;

describe('a spawned session\'s key (item 1)', () => {
  it('is answered once to the spawner; a viewer finds it nowhere: not in GET /sessions, the session, its events, jobs or idempotency records', async () => {
    const { owner, p, t } = await ownedTask('spawn-owner', 'spawn keys');
    const viewer = await w.user('spawn-viewer');
    await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: viewer.email, role: 'viewer' }, as(owner.token));
    const ws = await connect(w.h.base.replace('http', 'ws') + '/', as(viewer.token));

    const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { ...as(owner.token), 'Idempotency-Key': 'spawn-1' });
    expect(r.status).toBe(201);
    expect(r.body.apiKey).toMatch(KEY_PATTERN);
    const secret = String(r.body.apiKey).split('.')[1]!;
    expect(Object.keys(r.body.envVars)).toHaveLength(6);
    expect(r.body.envVars).not.toHaveProperty('MAESTRO_API_KEY');

    await ws.until((m) => m.some((e) => e.event === 'session:spawn'));
    const seenByViewer = JSON.stringify([
      (await w.h.req('GET', '/api/v1/sessions', undefined, as(viewer.token))).body,
      (await w.h.req('GET', `/api/v1/sessions/${r.body.sessionId}`, undefined, as(viewer.token))).body,
      (await w.h.req('GET', `/api/v1/sessions/${r.body.sessionId}/manifest`, undefined, as(viewer.token))).body,
      ws.messages,
    ]);
    expect(seenByViewer).not.toMatch(KEY_PATTERN);
    expect(seenByViewer).not.toContain(secret);
    const spawnEvent = ws.events().find((e) => e.event === 'session:spawn');
    expect(Object.keys(spawnEvent.data.envVars).sort()).toEqual(['DATA_DIR', 'MAESTRO_MANIFEST_PATH', 'MAESTRO_SERVER_URL', 'MAESTRO_SESSION_ID', 'MAESTRO_STRATEGY', 'SESSION_DIR']);
    expect(spawnEvent.data.session.env).not.toHaveProperty('MAESTRO_API_KEY');

    // a retry with the same Idempotency-Key learns the outcome, without the secret
    const again = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { ...as(owner.token), 'Idempotency-Key': 'spawn-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.sessionId).toBe(r.body.sessionId);
    expect(again.body).not.toHaveProperty('apiKey');

    // nothing stored anywhere in Redis holds a usable key: entities, streams, BullMQ job data and
    // results, idempotency records (keys are kept as SHA-256 hashes)
    const stored = await everythingStored(w.h.redis, w.h.prefix);
    expect(stored).not.toContain(secret);
    expect(stored).not.toMatch(KEY_PATTERN);
    await ws.close();
  });

  it('acts on its project with at most editor rights, even for an owner\'s spawn: no members, no project delete, no keys, no other project', async () => {
    const { owner, p, t } = await ownedTask('rights-owner', 'rights');
    const other = (await w.h.req('POST', '/api/v1/projects', { name: 'elsewhere' }, as(owner.token))).body;
    const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
    const key = as(r.body.apiKey);
    expect((await w.h.req('PATCH', `/api/v1/tasks/${t.id}`, { status: 'in_progress' }, key)).status).toBe(200);
    expect((await w.h.req('POST', `/api/v1/sessions/${r.body.sessionId}/timeline`, { message: 'working' }, key)).status).toBe(200);
    expect((await w.h.req('GET', `/api/v1/projects/${other.id}`, undefined, key)).status).toBe(404);
    expect((await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'mallory@example.com', role: 'owner' }, key)).status).toBe(403);
    expect((await w.h.req('DELETE', `/api/v1/projects/${p.id}`, undefined, key)).status).toBe(403);
    expect((await w.h.req('POST', '/api/v1/api-keys', { name: 'more' }, key)).status).toBe(403);
    expect((await w.h.req('POST', `/api/v1/sessions/${r.body.sessionId}/api-key`, {}, key)).status).toBe(403);
    const me = (await w.h.req('GET', '/api/v1/auth/me', undefined, key)).body;
    expect(me.roles).toEqual({ [p.id]: 'editor' });
    expect((await w.h.req('GET', '/api/v1/api-keys', undefined, key)).body.map((k: { id: string }) => k.id)).toEqual([r.body.apiKeyId]);
  });

  it('is minted by POST /sessions/:id/api-key for a writer of the project (not a viewer), and revoked when the session ends', async () => {
    const { owner, p, t } = await ownedTask('mint-owner', 'mint');
    const viewer = await w.user('mint-viewer');
    await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: viewer.email, role: 'viewer' }, as(owner.token));
    const s = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { ...as(owner.token), Prefer: 'respond-async' });
    expect(s.status).toBe(202);
    const sid = s.body.sessionId;
    expect((await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, as(viewer.token))).status).toBe(403);
    const minted = await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, as(owner.token));
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ projectId: p.id, sessionId: sid, readOnly: false });
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(minted.body.key))).status).toBe(200);
    expect((await w.h.req('PATCH', `/api/v1/sessions/${sid}`, { status: 'completed' }, as(owner.token))).status).toBe(200);
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(minted.body.key))).status).toBe(401);
    // an ended session gets no new key
    expect((await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, as(owner.token))).status).toBe(409);
  });

  it('at most MAX_API_KEYS_PER_SESSION work at once for one session (429 beyond)', async () => {
    const { owner, p, t } = await ownedTask('cap-owner', 'cap');
    const sid = (await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { ...as(owner.token), Prefer: 'respond-async' })).body.sessionId;
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, as(owner.token))).status);
    expect(codes).toEqual([201, 201, 201, 201, 201, 429]);
  });
});

describe('`maestro worker init` in the agent\'s terminal (item 1)', () => {
  it('mints the session key with the machine\'s own credential and hands it to the agent, whose reports work', async () => {
    const { owner, p, t } = await ownedTask('terminal-owner', 'terminal');
    const machineKey = (await w.h.req('POST', '/api/v1/api-keys', { name: 'this machine' }, as(owner.token))).body.key;
    const dir = mkdtempSync(join(tmpdir(), 'terminal-'));
    const credentials = join(dir, 'credentials');
    writeFileSync(credentials, JSON.stringify({ apiUrl: w.h.base, apiKey: machineKey }), { mode: 0o600 });
    const spawned = (await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token))).body;
    const out = join(dir, 'agent.json');
    const r = await runCli(['worker', 'init'], {
      ...spawned.envVars,
      MAESTRO_API_KEY: '',
      MAESTRO_API_URL: '',
      MAESTRO_CREDENTIALS_FILE: credentials,
      MAESTRO_AGENT_CMD: `${process.execPath} ${join(root, 'test/fixtures/fake-agent.mjs')}`,
      FAKE_AGENT_CLI: CLI,
      FAKE_AGENT_OUT: out,
      FAKE_AGENT_EXIT: '7',
    });
    expect([r.status, r.stderr]).toEqual([7, '']);
    const agentKey = JSON.parse(readFileSync(out, 'utf8')).env.MAESTRO_API_KEY as string;
    expect(agentKey).toMatch(KEY_PATTERN);
    expect(agentKey).not.toBe(machineKey);
    expect((await w.h.req('GET', '/api/v1/auth/me', undefined, as(agentKey))).body).toMatchObject({ sessionId: spawned.sessionId, projectId: p.id });
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(owner.token))).body.sessionStatus).toBe('completed');
  });
});

describe('replacing a session (item 6)', () => {
  it('a session key cannot replace its own session (409, nothing changes); a writer\'s replacement revokes the old session\'s keys', async () => {
    const { owner, p, t } = await ownedTask('replace-owner', 'replace');
    const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
    const sid = r.body.sessionId;
    const key = as(r.body.apiKey);
    const before = (await w.h.req('GET', `/api/v1/sessions/${sid}`, undefined, as(owner.token))).body;
    const self = await w.h.req('POST', '/api/v1/sessions', { id: sid, projectId: p.id, taskIds: [t.id] }, key);
    expect(self.status).toBe(409);
    expect(self.body.code).toBe('CONFLICT');
    expect((await w.h.req('GET', `/api/v1/sessions/${sid}`, undefined, as(owner.token))).body).toEqual(before);
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, key)).status).toBe(200);

    const replaced = await w.h.req('POST', '/api/v1/sessions', { id: sid, projectId: p.id, taskIds: [t.id], name: 'fresh' }, as(owner.token));
    expect(replaced.status).toBe(201);
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, key)).status).toBe(401);
  });
});

describe('an admin spawning in a project it is not a member of (item 19)', () => {
  it('gets 201 with a manifest generated through the API (not a 500)', async () => {
    const { p, t } = await ownedTask('admin-target', 'not the admin\'s');
    const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(w.adminKey));
    expect([r.status, r.body.code]).toEqual([201, undefined]);
    expect(r.body.manifest.tasks.map((x: { id: string }) => x.id)).toEqual([t.id]);
  });
});

describe('manifest files (item 3)', () => {
  it('are removed with their session', async () => {
    const { owner, p, t } = await ownedTask('files-owner', 'files');
    const r = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
    expect(existsSync(r.body.manifestPath)).toBe(true);
    expect((await w.h.req('DELETE', `/api/v1/sessions/${r.body.sessionId}`, undefined, as(owner.token))).status).toBe(200);
    expect(existsSync(join(w.h.config.SESSION_DIR, r.body.sessionId))).toBe(false);
  });

  it('a worker sweeps the manifest directories of sessions deleted where it could not see (another host, while it was down)', async () => {
    const { owner, p, t } = await ownedTask('sweep-owner', 'sweep');
    const live = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
    const orphan = join(w.h.config.SESSION_DIR, 'sess_1700000000000_deletedelsewhere');
    mkdirSync(orphan, { recursive: true });
    writeFileSync(join(orphan, 'manifest.json'), '{}');
    expect(await worker.spawn.sweepOrphanManifests(0)).toBeGreaterThanOrEqual(1);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live.body.manifestPath)).toBe(true);
  });
});
