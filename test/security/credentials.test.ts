import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Security issue 11, items 5, 8, 10, 11, 16 and 17 (contract 00 "Identity and access", "Tenancy
 * limits", "Concurrency and retries"): what one credential can learn or undo of another, and how much
 * of Redis one user can fill.
 */
let redis: TestRedis;
let w: AuthWorld;

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url, { MAX_API_KEYS_PER_USER: '3', REFRESH_REUSE_WINDOW_SECONDS: '120' });
});
afterAll(async () => {
  await w?.h.close();
  await redis?.stop();
});

describe('Idempotency-Key records are per credential and never hold a secret (items 5, 17)', () => {
  it('a read-only key replaying the key another credential of the user used gets its own answer (403), not the stored key', async () => {
    const u = await w.user('idem-user');
    const created = await w.h.req('POST', '/api/v1/api-keys', { name: 'full' }, { ...as(u.token), 'Idempotency-Key': 'k1' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^mk_/);
    const readOnly = (await w.h.req('POST', '/api/v1/api-keys', { readOnly: true }, as(u.token))).body.key;
    const replay = await w.h.req('POST', '/api/v1/api-keys', { name: 'full' }, { ...as(readOnly), 'Idempotency-Key': 'k1' });
    expect(replay.status).toBe(403);
    expect(JSON.stringify(replay.body)).not.toContain('mk_');
    // the same credential's retry learns the outcome, without the secret
    const own = await w.h.req('POST', '/api/v1/api-keys', { name: 'full' }, { ...as(u.token), 'Idempotency-Key': 'k1' });
    expect(own.status).toBe(201);
    expect(own.headers.get('idempotent-replayed')).toBe('true');
    expect(own.body.id).toBe(created.body.id);
    expect(own.body).not.toHaveProperty('key');
  });

  it('a replay never returns a result whose project the caller can no longer read', async () => {
    const owner = await w.user('idem-owner');
    const editor = await w.user('idem-editor');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'idem' }, as(owner.token))).body;
    await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: editor.email, role: 'editor' }, as(owner.token));
    const body = { projectId: p.id, title: 'secret plan' };
    expect((await w.h.req('POST', '/api/v1/tasks', body, { ...as(editor.token), 'Idempotency-Key': 't1' })).status).toBe(201);
    await w.h.req('DELETE', `/api/v1/projects/${p.id}/members/${editor.email}`, undefined, as(owner.token));
    const replay = await w.h.req('POST', '/api/v1/tasks', body, { ...as(editor.token), 'Idempotency-Key': 't1' });
    expect(replay.status).toBe(409);
    expect(JSON.stringify(replay.body)).not.toContain('secret plan');
  });

  it('unauthenticated requests are not recorded: a login with an Idempotency-Key gets fresh tokens each time and nothing is stored', async () => {
    const u = await w.user('idem-login');
    const login = () => w.h.req('POST', '/api/v1/auth/login', { email: u.email, password: 'correct horse battery' }, { 'Idempotency-Key': 'same' });
    const [a, b] = [await login(), await login()];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(b.body.refreshToken).not.toBe(a.body.refreshToken);
    expect(await w.h.redis.keys(`${w.h.prefix}idem:*same`)).toEqual([]);
  });
});

describe('scoped and read-only keys see nothing outside their scope (item 8)', () => {
  it('list and revoke only themselves; /auth/me shows only the scope project\'s role', async () => {
    const u = await w.user('scope-user');
    const p1 = (await w.h.req('POST', '/api/v1/projects', { name: 'one' }, as(u.token))).body;
    await w.h.req('POST', '/api/v1/projects', { name: 'two' }, as(u.token));
    const scoped = (await w.h.req('POST', '/api/v1/api-keys', { projectId: p1.id }, as(u.token))).body;
    const readOnly = (await w.h.req('POST', '/api/v1/api-keys', { readOnly: true }, as(u.token))).body;
    for (const k of [scoped, readOnly]) {
      const list = await w.h.req('GET', '/api/v1/api-keys', undefined, as(k.key));
      expect(list.body.map((x: { id: string }) => x.id)).toEqual([k.id]);
    }
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${readOnly.id}`, undefined, as(scoped.key))).status).toBe(404);
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${scoped.id}`, undefined, as(readOnly.key))).status).toBe(404);
    expect((await w.h.req('GET', '/api/v1/auth/me', undefined, as(readOnly.key))).status).toBe(200); // not revoked
    const me = (await w.h.req('GET', '/api/v1/auth/me', undefined, as(scoped.key))).body;
    expect(me.roles).toEqual({ [p1.id]: 'owner' });
    // a key may revoke itself
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${scoped.id}`, undefined, as(scoped.key))).status).toBe(200);
    expect((await w.h.req('GET', '/api/v1/auth/me', undefined, as(scoped.key))).status).toBe(401);
  });
});

describe('refresh tokens (items 10, 11, 16)', () => {
  it('reuse detection wins every race: after two concurrent rotations of one token, no token of the family works (20 trials)', async () => {
    const u = await w.user('racer');
    let bad = 0;
    for (let i = 0; i < 20; i++) {
      const t = (await w.h.req('POST', '/api/v1/auth/login', { email: u.email, password: 'correct horse battery' })).body.refreshToken;
      const [a, b] = await Promise.all([0, 1].map(() => w.h.req('POST', '/api/v1/auth/refresh', { refreshToken: t })));
      const winners = [a!, b!].filter((r) => r.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      for (const win of winners) if ((await w.h.req('POST', '/api/v1/auth/refresh', { refreshToken: win.body.refreshToken })).status === 200) bad++;
    }
    expect(bad).toBe(0);
  });

  it('logout revokes a login only with the whole token: its id with another secret changes nothing', async () => {
    const u = await w.user('victim');
    const forged = u.refresh.replace(/\.[\w-]+$/, '.' + 'A'.repeat(43));
    const bare = u.refresh.replace(/\.[\w-]+$/, '.');
    const attacker = await w.user('attacker');
    for (const t of [forged, bare]) expect((await w.h.req('POST', '/api/v1/auth/logout', { refreshToken: t }, as(attacker.token))).status).toBe(200);
    const still = await w.h.req('POST', '/api/v1/auth/refresh', { refreshToken: u.refresh });
    expect(still.status).toBe(200);
    await w.h.req('POST', '/api/v1/auth/logout', { refreshToken: still.body.refreshToken }, as(u.token));
    expect((await w.h.req('POST', '/api/v1/auth/refresh', { refreshToken: still.body.refreshToken })).status).toBe(401);
  });

  it('a spent token is kept only for the reuse window (REFRESH_REUSE_WINDOW_SECONDS), not the refresh TTL', async () => {
    const u = await w.user('spender');
    await w.h.req('POST', '/api/v1/auth/refresh', { refreshToken: u.refresh });
    const [, fam, id] = /^rt_(\w+)\.(\w+)\./.exec(u.refresh)!;
    const ttl = await w.h.redis.ttl(`${w.h.prefix}{rf:${fam}}:t:${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120);
  });
});

describe('API keys per user (item 16)', () => {
  it('at most MAX_API_KEYS_PER_USER active personal keys (429 beyond); a revoked one frees its place', async () => {
    const u = await w.user('hoarder');
    const codes = [];
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await w.h.req('POST', '/api/v1/api-keys', { name: `k${i}` }, as(u.token));
      codes.push(r.status);
      if (r.status === 201) ids.push(r.body.id);
    }
    expect(codes).toEqual([201, 201, 201, 429]);
    await w.h.req('DELETE', `/api/v1/api-keys/${ids[0]}`, undefined, as(u.token));
    expect((await w.h.req('POST', '/api/v1/api-keys', { name: 'k4' }, as(u.token))).status).toBe(201);
    expect((await w.h.req('GET', '/api/v1/api-keys', undefined, as(u.token))).body).toHaveLength(4); // 3 active + the revoked one
  });
});
