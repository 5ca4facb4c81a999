import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { listRoutes } from '../../src/api/route-list.js';
import { startApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/shared/config.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect } from '../helpers/ws-client.js';

const JWT_KEYS = `k2:${'b'.repeat(40)},k1:${'a'.repeat(40)}`;
const credentials = join(mkdtempSync(join(tmpdir(), 'creds-')), 'credentials');
let redis: TestRedis;
let h: Harness;
let h2: Harness;
let adminKey: string;

beforeAll(async () => {
  redis = await startRedis();
  const env = { MAESTRO_AUTH: 'required', MAESTRO_CREDENTIALS_FILE: credentials, MAESTRO_JWT_KEYS: JWT_KEYS, ACCESS_TOKEN_TTL_SECONDS: '60' };
  h = await startHarness(redis.url, env);
  h2 = await startHarness(redis.url, { ...env, MAESTRO_REDIS_PREFIX: h.prefix });
  for (let i = 0; i < 100 && !adminKey; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      adminKey = JSON.parse(readFileSync(credentials, 'utf8')).apiKey;
    } catch {
      /* not yet */
    }
  }
});
afterAll(async () => {
  await h2?.close();
  await h?.close();
  await redis?.stop();
});

const as = (cred: string): Record<string, string> => (cred.startsWith('mk_') ? { 'X-API-Key': cred } : { Authorization: `Bearer ${cred}` });
async function user(name: string) {
  const r = await h.req('POST', '/api/v1/auth/register', { email: `${name}@example.com`, password: 'correct horse battery', name });
  expect(r.status).toBe(201);
  return { id: r.body.user.id as string, token: r.body.accessToken as string, refresh: r.body.refreshToken as string };
}

describe('first start', () => {
  it('creates an admin and an API key in the credentials file (0600); the key works', async () => {
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    const me = await h.req('GET', '/api/v1/auth/me', undefined, as(adminKey));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ email: 'admin@localhost', admin: true, credential: 'apiKey' });
  });
});

describe('anonymous requests', () => {
  it('every /api route except register/login/refresh and the OpenAPI document answers 401 UNAUTHORIZED without a credential', async () => {
    const routes = listRoutes(createApp(h.api.deps)).filter((r) => r.path.startsWith('/api/v1/'));
    const open = new Set(['post /api/v1/auth/register', 'post /api/v1/auth/login', 'post /api/v1/auth/refresh', 'get /api/v1/openapi.json']);
    for (const r of routes) {
      if (open.has(`${r.method} ${r.path}`)) continue;
      const path = r.path.replace(/\{\w+\}/g, 'x');
      const res = await h.req(r.method.toUpperCase(), path, r.method === 'get' ? undefined : {});
      expect([`${r.method} ${r.path}`, res.status, res.body?.code]).toEqual([`${r.method} ${r.path}`, 401, 'UNAUTHORIZED']);
    }
    expect((await h.req('GET', '/health')).status).toBe(200);
  });
});

describe('users and tokens', () => {
  it('login errors do not tell whether the email exists; a duplicate email is 409', async () => {
    await user('dora');
    const wrong = await h.req('POST', '/api/v1/auth/login', { email: 'dora@example.com', password: 'nope nope nope' });
    const unknown = await h.req('POST', '/api/v1/auth/login', { email: 'nobody@example.com', password: 'nope nope nope' });
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect((await h.req('POST', '/api/v1/auth/register', { email: 'DORA@example.com', password: 'another password' })).status).toBe(409);
    const ok = await h.req('POST', '/api/v1/auth/login', { email: 'Dora@Example.com', password: 'correct horse battery' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 60, user: { email: 'dora@example.com' } });
    expect(ok.body.user).not.toHaveProperty('passwordHash');
  });

  it('rejects alg none, a wrong key, wrong aud/iss, an expired or tampered token, an unknown kid', async () => {
    const u = await user('eve');
    expect((await h.req('GET', '/api/v1/auth/me', undefined, as(u.token))).status).toBe(200);
    const enc = (s: string) => new TextEncoder().encode(s);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: u.id, iss: 'maestro', aud: 'maestro-api', iat: now, exp: now + 60 };
    const sign = (header: Record<string, string>, payload: Record<string, unknown>, key: string) =>
      new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(enc(key));
    const [h1, p1, s1] = u.token.split('.');
    const tampered = `${h1}.${b64({ ...JSON.parse(Buffer.from(p1!, 'base64url').toString()), sub: 'usr_admin' })}.${s1}`;
    const bad = [
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      await sign({ alg: 'HS256', kid: 'k2' }, claims, 'c'.repeat(40)),
      await sign({ alg: 'HS256', kid: 'k2' }, { ...claims, aud: 'other' }, 'b'.repeat(40)),
      await sign({ alg: 'HS256', kid: 'k2' }, { ...claims, iss: 'other' }, 'b'.repeat(40)),
      await sign({ alg: 'HS256', kid: 'k2' }, { ...claims, exp: now - 10 }, 'b'.repeat(40)),
      await sign({ alg: 'HS256', kid: 'k9' }, claims, 'b'.repeat(40)),
      await sign({ alg: 'HS512', kid: 'k2' }, claims, 'b'.repeat(64)),
      tampered,
    ];
    for (const t of bad) {
      const r = await h.req('GET', '/api/v1/auth/me', undefined, as(t));
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('UNAUTHORIZED');
    }
    // a token signed with the older key (k1) is still accepted: rotation does not log anyone out
    const old = await sign({ alg: 'HS256', kid: 'k1' }, claims, 'a'.repeat(40));
    expect((await h.req('GET', '/api/v1/auth/me', undefined, as(old))).status).toBe(200);
  });

  it('refresh tokens rotate; reusing a spent one revokes the whole family; logout revokes', async () => {
    const u = await user('fred');
    const r1 = await h.req('POST', '/api/v1/auth/refresh', { refreshToken: u.refresh });
    expect(r1.status).toBe(200);
    const r2 = await h.req('POST', '/api/v1/auth/refresh', { refreshToken: r1.body.refreshToken });
    expect(r2.status).toBe(200);
    const reuse = await h.req('POST', '/api/v1/auth/refresh', { refreshToken: u.refresh });
    expect(reuse.status).toBe(401);
    expect((await h.req('POST', '/api/v1/auth/refresh', { refreshToken: r2.body.refreshToken })).status).toBe(401);
    const login = await h.req('POST', '/api/v1/auth/login', { email: 'fred@example.com', password: 'correct horse battery' });
    await h.req('POST', '/api/v1/auth/logout', { refreshToken: login.body.refreshToken }, as(login.body.accessToken));
    expect((await h.req('POST', '/api/v1/auth/refresh', { refreshToken: login.body.refreshToken })).status).toBe(401);
  });
});

describe('API keys', () => {
  it('are shown once, listed without secrets, and a revoked key is refused at once on every replica', async () => {
    const u = await user('gina');
    const k = await h.req('POST', '/api/v1/api-keys', { name: 'cli' }, as(u.token));
    expect(k.status).toBe(201);
    expect(k.body.key).toMatch(/^mk_/);
    const list = await h.req('GET', '/api/v1/api-keys', undefined, as(u.token));
    expect(list.body).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(k.body.key.split('.')[1]);
    expect((await h2.req('GET', '/api/v1/auth/me', undefined, as(k.body.key))).status).toBe(200);
    await h.req('DELETE', `/api/v1/api-keys/${k.body.id}`, undefined, as(u.token));
    expect((await h2.req('GET', '/api/v1/auth/me', undefined, as(k.body.key))).status).toBe(401);
    expect((await h.req('GET', '/api/v1/auth/me', undefined, as(k.body.key))).status).toBe(401);
  });
});

describe('per-project access', () => {
  it('owner, editor, viewer, another user, admin, scoped and read-only keys each get what their role allows', async () => {
    const owner = await user('olga');
    const editor = await user('ed');
    const viewer = await user('vic');
    const other = await user('otto');
    const p = (await h.req('POST', '/api/v1/projects', { name: 'secret' }, as(owner.token))).body;
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, as(owner.token))).body;
    expect((await h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'ed@example.com', role: 'editor' }, as(owner.token))).status).toBe(201);
    expect((await h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'vic@example.com', role: 'viewer' }, as(owner.token))).status).toBe(201);

    // another user: 404 on everything, empty lists
    expect((await h.req('GET', `/api/v1/projects/${p.id}`, undefined, as(other.token))).status).toBe(404);
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(other.token))).status).toBe(404);
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'x' }, as(other.token))).status).toBe(404);
    expect((await h.req('GET', '/api/v1/projects', undefined, as(other.token))).body).toEqual([]);
    expect((await h.req('GET', '/api/v1/tasks', undefined, as(other.token))).body).toEqual([]);
    // viewer: reads, cannot write (403)
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(viewer.token))).status).toBe(200);
    expect((await h.req('GET', '/api/v1/projects', undefined, as(viewer.token))).body.map((x: { id: string }) => x.id)).toEqual([p.id]);
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'x' }, as(viewer.token))).status).toBe(403);
    expect((await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 'v' }, as(viewer.token))).status).toBe(403);
    // editor: writes, cannot delete the project or manage members
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'edited' }, as(editor.token))).status).toBe(200);
    expect((await h.req('DELETE', `/api/v1/projects/${p.id}`, undefined, as(editor.token))).status).toBe(403);
    expect((await h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'otto@example.com', role: 'viewer' }, as(editor.token))).status).toBe(403);
    // admin sees everything
    expect((await h.req('GET', `/api/v1/projects/${p.id}`, undefined, as(adminKey))).status).toBe(200);
    // a key scoped to another project, and a read-only key
    const p2 = (await h.req('POST', '/api/v1/projects', { name: 'mine' }, as(owner.token))).body;
    const scoped = (await h.req('POST', '/api/v1/api-keys', { projectId: p2.id }, as(owner.token))).body.key;
    expect((await h.req('GET', `/api/v1/projects/${p.id}`, undefined, as(scoped))).status).toBe(404);
    expect((await h.req('GET', `/api/v1/projects/${p2.id}`, undefined, as(scoped))).status).toBe(200);
    const readOnly = (await h.req('POST', '/api/v1/api-keys', { readOnly: true }, as(owner.token))).body.key;
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(readOnly))).status).toBe(200);
    expect((await h.req('PATCH', `/api/v1/tasks/${t.id}`, { title: 'ro' }, as(readOnly))).status).toBe(403);
    // removing the viewer takes effect on the next request
    await h.req('DELETE', `/api/v1/projects/${p.id}/members/${viewer.id}`, undefined, as(owner.token));
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(viewer.token))).status).toBe(404);
  });
});

describe('WebSocket access', () => {
  it('needs a credential; a ticket works once; a client only gets events of projects it may read, and a new membership applies without reconnecting', async () => {
    const wsBase = h.base.replace('http', 'ws');
    await expect(connect(`${wsBase}/`)).rejects.toThrow(/401/);
    const alice = await user('alice');
    const bob = await user('bob');
    const ticket = (await h.req('POST', '/api/v1/auth/ws-ticket', {}, as(bob.token))).body.ticket;
    const c = await connect(`${wsBase}/?ticket=${ticket}`);
    await expect(connect(`${wsBase}/?ticket=${ticket}`)).rejects.toThrow(/401/);
    const p = (await h.req('POST', '/api/v1/projects', { name: 'alice only' }, as(alice.token))).body;
    await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 'hidden' }, as(alice.token));
    await new Promise((r) => setTimeout(r, 200));
    expect(c.events()).toEqual([]);
    await h.req('POST', `/api/v1/projects/${p.id}/members`, { email: 'bob@example.com', role: 'viewer' }, as(alice.token));
    await new Promise((r) => setTimeout(r, 100));
    await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 'visible' }, as(alice.token));
    await c.until(() => c.events().length >= 1);
    expect(c.events().map((e) => e.data.title)).toEqual(['visible']);
    await c.close();
  });

  it('an Origin outside CORS_ORIGINS is refused', async () => {
    const h3 = await startHarness(redis.url, { MAESTRO_REDIS_PREFIX: h.prefix, CORS_ORIGINS: 'http://ui.example', MAESTRO_AUTH: 'disabled' });
    const { WebSocket } = await import('ws');
    const code = await new Promise<string>((resolve) => {
      const ws = new WebSocket(h3.base.replace('http', 'ws') + '/', { headers: { origin: 'http://evil.example' } });
      ws.on('error', (e) => resolve(String(e.message)));
      ws.on('open', () => resolve('open'));
    });
    expect(code).toMatch(/403/);
    await h3.close();
  });
});

describe('spawn and the CLI with authentication on', () => {
  it('a spawn answers the session key once (never in env, envVars or events), scoped to its project and session; the CLI reads the credentials file', async () => {
    const { startWorker } = await import('../../src/worker/index.js');
    const { createLogger } = await import('../../src/shared/logger.js');
    const { join: pjoin, resolve: presolve } = await import('node:path');
    const root = presolve(import.meta.dirname, '../..');
    const worker = await startWorker(
      loadConfig({ REDIS_URL: redis.url, MAESTRO_REDIS_PREFIX: h.prefix, SERVER_URL: h.base, SESSION_DIR: h.config.SESSION_DIR, LOG_LEVEL: 'silent', METRICS_PORT: '0', MAESTRO_CLI_PATH: pjoin(root, 'dist/cli/index.js') }),
      createLogger('w', 'silent'),
    );
    try {
      const owner = await user('spawner');
      const p = (await h.req('POST', '/api/v1/projects', { name: 'spawn with auth' }, as(owner.token))).body;
      const t = (await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' }, as(owner.token))).body;
      const other = (await h.req('POST', '/api/v1/projects', { name: 'not for the agent' }, as(owner.token))).body;
      const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
      expect(r.status).toBe(201);
      const key = r.body.apiKey;
      expect(key).toMatch(/^mk_/);
      expect(Object.keys(r.body.envVars).sort()).toEqual(['DATA_DIR', 'MAESTRO_MANIFEST_PATH', 'MAESTRO_SERVER_URL', 'MAESTRO_SESSION_ID', 'MAESTRO_STRATEGY', 'SESSION_DIR']);
      const me = await h.req('GET', '/api/v1/auth/me', undefined, as(key));
      expect(me.body).toMatchObject({ id: owner.id, projectId: p.id, sessionId: r.body.sessionId, credential: 'apiKey' });
      expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(key))).status).toBe(200);
      expect((await h.req('GET', `/api/v1/projects/${other.id}`, undefined, as(key))).status).toBe(404);
      // the agent works with its key until its session ends; then the key is revoked
      const sid = r.body.sessionId;
      expect((await h.req('PATCH', `/api/v1/sessions/${sid}`, { status: 'working' }, as(key))).status).toBe(200);
      expect((await h.req('PATCH', `/api/v1/sessions/${sid}`, { status: 'completed' }, as(key))).status).toBe(200);
      expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(key))).status).toBe(401);
      const keys = (await h.req('GET', '/api/v1/api-keys', undefined, as(owner.token))).body as { name: string; revokedAt: number | null }[];
      expect(keys.find((k) => k.name === `session ${sid}`)?.revokedAt).toBeGreaterThan(0);
      // a deleted session's key goes too
      const r2 = await h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, as(owner.token));
      const key2 = r2.body.apiKey;
      expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(key2))).status).toBe(200);
      expect((await h.req('DELETE', `/api/v1/sessions/${r2.body.sessionId}`, undefined, as(owner.token))).status).toBe(200);
      expect((await h.req('GET', `/api/v1/tasks/${t.id}`, undefined, as(key2))).status).toBe(401);
    } finally {
      await worker.close();
    }
    const { execFile } = await import('node:child_process');
    const out = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(import.meta.dirname, '../../dist/cli/index.js'), '--json', 'project', 'list'],
        { env: { ...process.env, MAESTRO_API_URL: h.base, MAESTRO_CREDENTIALS_FILE: credentials, MAESTRO_API_KEY: '', MAESTRO_RETRIES: '0' } },
        (err, stdout) => resolve({ code: err ? Number(err.code) : 0, stdout }),
      ),
    );
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).data.length).toBeGreaterThan(0); // the admin sees every project
  });
});

describe('MAESTRO_AUTH=disabled', () => {
  it('refuses to start on a non-loopback bind', async () => {
    await expect(startApi(loadConfig({ MAESTRO_AUTH: 'disabled', HOST: '0.0.0.0', PORT: '0', REDIS_URL: redis.url, LOG_LEVEL: 'silent' }))).rejects.toThrow(/MAESTRO_AUTH=disabled requires HOST to be a loopback/);
  });
});
