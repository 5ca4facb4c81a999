import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrincipalCache } from '../../src/api/middleware/principal-cache.js';
import type { Principal } from '../../src/shared/principal.js';
import type { Harness } from '../helpers/api-harness.js';
import { as, startReplicaPair, type AuthWorld, type ReplicaPair } from '../helpers/auth-world.js';

/**
 * Issue 12: each replica caches resolved credentials (principal-cache.ts) and must still honour every
 * change at once on every replica: a revoked key, a removed membership, an expired key, and changes
 * made while its subscription to `<prefix>auth` was down. Changes go through replica `w.h`; the
 * credential is used on `other`, where it is cached.
 */
let pair: ReplicaPair;
let w: AuthWorld;
let other: Harness;

beforeAll(async () => {
  pair = await startReplicaPair();
  ({ w, other } = pair);
  await until(() => Boolean(other.api.principalCache?.active && w.h.api.principalCache?.active), 5000);
});
afterAll(async () => {
  await pair?.close();
});

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Status of `GET path` on `h` with `cred` until it is `status` or `ms` pass; the ms it took, or undefined. */
async function statusWithin(h: Harness, path: string, cred: string, status: number, ms: number): Promise<number | undefined> {
  const t0 = Date.now();
  const ok = await until(async () => (await h.req('GET', path, undefined, as(cred))).status === status, ms);
  return ok ? Date.now() - t0 : undefined;
}

describe('cached credentials follow every change, on every replica', () => {
  it('a revoked key is refused on another replica within a second although its principal is cached there', async () => {
    const u = await w.user('pc-revoke');
    const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'cli' }, as(u.token))).body;
    const before = other.api.principalCache!.size.principals;
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(200);
    expect(other.api.principalCache!.size.principals).toBe(before + 1);
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(200);
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${key.id}`, undefined, as(u.token))).status).toBe(200);
    expect(await statusWithin(other, '/api/v1/auth/me', key.key, 401, 1000)).toBeLessThan(1000);
    // and at once on the replica that revoked it (its own cache is dropped before the publish)
    expect((await w.h.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(401);
  });

  it('a removed member loses the project on another replica within a second, through a cached key and a cached token', async () => {
    const owner = await w.user('pc-owner');
    const member = await w.user('pc-member');
    const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'm' }, as(member.token))).body.key as string;
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'pc members' }, as(owner.token))).body;
    expect((await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: member.email, role: 'editor' }, as(owner.token))).status).toBe(201);
    for (const cred of [key, member.token]) {
      expect((await other.req('GET', `/api/v1/projects/${p.id}`, undefined, as(cred))).status).toBe(200);
      expect((await other.req('GET', `/api/v1/projects/${p.id}`, undefined, as(cred))).status).toBe(200);
    }
    expect((await w.h.req('DELETE', `/api/v1/projects/${p.id}/members/${member.email}`, undefined, as(owner.token))).status).toBe(200);
    for (const cred of [key, member.token]) expect(await statusWithin(other, `/api/v1/projects/${p.id}`, cred, 404, 1000)).toBeLessThan(1000);
    // a new membership applies as quickly
    expect((await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: member.email, role: 'viewer' }, as(owner.token))).status).toBe(201);
    for (const cred of [key, member.token]) expect(await statusWithin(other, `/api/v1/projects/${p.id}`, cred, 200, 1000)).toBeLessThan(1000);
  });

  it('a key that expires is refused from the cache at its expiresAt, not after the cache TTL', async () => {
    const u = await w.user('pc-expiry');
    const created = await w.h.api.deps.stores.identity.createApiKey(u.id, { name: 'short', ttlMs: 1500 });
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(created.key))).status).toBe(200);
    expect(other.api.principalCache!.size.principals).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, Math.max(0, created.expiresAt! - Date.now()) + 20));
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(created.key))).status).toBe(401);
    expect(other.config.PRINCIPAL_CACHE_TTL_MS).toBeGreaterThan(10_000);
  });

  it('while the subscription to the auth channel is down nothing is cached, so a change published meanwhile is not missed', async () => {
    const u = await w.user('pc-sub');
    const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'sub' }, as(u.token))).body;
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(200);
    const cache = other.api.principalCache!;
    expect(cache.size.principals).toBeGreaterThan(0);
    // drop every subscriber connection of this (our own) Redis; ioredis reconnects by itself
    const admin = new Redis(pair.redis.url);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(await until(() => !cache.active, 2000)).toBe(true);
    expect(cache.size.principals).toBe(0);
    // the revocation's message may reach no replica; the cache of `other` holds nothing to serve
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${key.id}`, undefined, as(u.token))).status).toBe(200);
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(401);
    // once subscribed again it caches again
    expect(await until(() => cache.active, 5000)).toBe(true);
    const fresh = (await w.h.req('POST', '/api/v1/api-keys', { name: 'sub2' }, as(u.token))).body.key as string;
    expect((await other.req('GET', '/api/v1/auth/me', undefined, as(fresh))).status).toBe(200);
    expect(cache.size.principals).toBeGreaterThan(0);
    admin.disconnect();
  });

  it('writes lastUsedAt from cached requests at most once a minute per key', async () => {
    const u = await w.user('pc-used');
    const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'used' }, as(u.token))).body;
    for (let i = 0; i < 5; i++) expect((await other.req('GET', '/api/v1/auth/me', undefined, as(key.key))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    const listed = (await w.h.req('GET', '/api/v1/api-keys', undefined, as(u.token))).body as { id: string; lastUsedAt: number | null }[];
    const used = listed.find((k) => k.id === key.id)!.lastUsedAt;
    expect(used).toBeGreaterThan(Date.now() - 10_000);
    // the later hits did not write it again
    for (let i = 0; i < 5; i++) await other.req('GET', '/api/v1/auth/me', undefined, as(key.key));
    await new Promise((r) => setTimeout(r, 100));
    const again = (await w.h.req('GET', '/api/v1/api-keys', undefined, as(u.token))).body as { id: string; lastUsedAt: number | null }[];
    expect(again.find((k) => k.id === key.id)!.lastUsedAt).toBe(used);
  });
});

describe('PrincipalCache', () => {
  const principal = (id: string, keyId?: string): Principal => ({ id, kind: keyId ? 'apiKey' : 'user', admin: false, roles: {}, ...(keyId ? { keyId } : {}) });
  /** A cache whose clock the test moves, live as if subscribed (attached to our own Redis). */
  async function liveCache(o: { ttlMs?: number; maxEntries?: number } = {}) {
    let now = 1_000_000;
    const used: [string, number][] = [];
    const cache = new PrincipalCache({ ttlMs: o.ttlMs ?? 30_000, maxEntries: o.maxEntries ?? 100, lastUsedEveryMs: 60_000, noteKeyUsed: (k, at) => used.push([k, at]), clock: () => now });
    const sub = new Redis(pair.redis.url);
    cache.attach(sub, 'pc-unit:auth');
    if ((o.ttlMs ?? 30_000) > 0) await until(() => cache.active, 2000);
    return { cache, used, sub, advance: (ms: number) => (now += ms), now: () => now };
  }

  it('keeps a key for the TTL or until its expiresAt, whichever is first; hands out copies', async () => {
    const { cache, advance, now, sub } = await liveCache();
    cache.putApiKey('mk_a.secret', { principal: principal('usr_a', 'a'), expiresAt: null, lastUsedAt: now() }, cache.stamp());
    cache.putApiKey('mk_b.secret', { principal: principal('usr_b', 'b'), expiresAt: now() + 5_000, lastUsedAt: now() }, cache.stamp());
    const got = cache.apiKey('mk_a.secret')!;
    got.roles = { p: 'owner' };
    expect(cache.apiKey('mk_a.secret')!.roles).toEqual({});
    advance(5_000);
    expect(cache.apiKey('mk_b.secret')).toBeUndefined();
    expect(cache.apiKey('mk_a.secret')).toBeDefined();
    advance(25_000);
    expect(cache.apiKey('mk_a.secret')).toBeUndefined();
    sub.disconnect();
  });

  it('does not cache a lookup that raced with an invalidation of anyone, and drops a user at once', async () => {
    const { cache, now, sub } = await liveCache();
    const stamp = cache.stamp();
    cache.invalidateUser('usr_x');
    cache.putApiKey('mk_c.secret', { principal: principal('usr_c', 'c'), expiresAt: null, lastUsedAt: now() }, stamp);
    expect(cache.apiKey('mk_c.secret')).toBeUndefined();
    cache.putApiKey('mk_c.secret', { principal: principal('usr_c', 'c'), expiresAt: null, lastUsedAt: now() }, cache.stamp());
    cache.putUser(principal('usr_c'), cache.stamp());
    expect(cache.apiKey('mk_c.secret')).toBeDefined();
    cache.invalidateUser('usr_c');
    expect(cache.apiKey('mk_c.secret')).toBeUndefined();
    expect(cache.user('usr_c')).toBeUndefined();
    sub.disconnect();
  });

  it('drops a user when its id is published on the channel it is attached to', async () => {
    const { cache, sub } = await liveCache();
    cache.putUser(principal('usr_pub'), cache.stamp());
    const pub = new Redis(pair.redis.url);
    await pub.publish('pc-unit:auth', 'usr_pub');
    expect(await until(() => cache.user('usr_pub') === undefined, 1000)).toBe(true);
    pub.disconnect();
    sub.disconnect();
  });

  it('holds at most maxEntries principals and tokens, the oldest dropped first; tokens until their exp', async () => {
    const { cache, now, advance, sub } = await liveCache({ maxEntries: 3 });
    for (const id of ['1', '2', '3', '4']) cache.putUser(principal(`usr_${id}`), cache.stamp());
    expect(cache.size.principals).toBe(3);
    expect(cache.user('usr_1')).toBeUndefined();
    expect(cache.user('usr_4')).toBeDefined();
    for (const t of ['t1', 't2', 't3', 't4']) cache.putToken(t, `usr_${t}`, Math.floor(now() / 1000) + 60);
    expect(cache.size.tokens).toBe(3);
    expect(cache.tokenSubject('t1')).toBeUndefined();
    expect(cache.tokenSubject('t4')).toBe('usr_t4');
    advance(60_000);
    expect(cache.tokenSubject('t4')).toBeUndefined();
    sub.disconnect();
  });

  it('writes lastUsedAt from hits once per lastUsedEveryMs', async () => {
    const { cache, used, advance, now, sub } = await liveCache({ ttlMs: 600_000 });
    cache.putApiKey('mk_d.secret', { principal: principal('usr_d', 'd'), expiresAt: null, lastUsedAt: now() }, cache.stamp());
    for (let i = 0; i < 10; i++) cache.apiKey('mk_d.secret');
    expect(used).toEqual([]);
    advance(60_001);
    for (let i = 0; i < 10; i++) cache.apiKey('mk_d.secret');
    expect(used).toEqual([['d', now()]]);
    sub.disconnect();
  });

  it('caches nothing with a TTL of 0 (PRINCIPAL_CACHE_TTL_MS=0)', async () => {
    const { cache, now, sub } = await liveCache({ ttlMs: 0 });
    cache.putUser(principal('usr_off'), cache.stamp());
    cache.putToken('tok', 'usr_off', Math.floor(now() / 1000) + 60);
    expect(cache.user('usr_off')).toBeUndefined();
    expect(cache.tokenSubject('tok')).toBeUndefined();
    sub.disconnect();
  });
});
