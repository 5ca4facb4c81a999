import { createHash } from 'node:crypto';
import type { Principal } from '../../shared/principal.js';
import type { RedisClient } from '../../shared/redis-connection.js';

/** What a principal cache is built from (config PRINCIPAL_CACHE_TTL_MS, PRINCIPAL_CACHE_MAX_ENTRIES). */
export interface PrincipalCacheOptions {
  /** How long a principal is kept (ms); 0 = nothing is cached. */
  ttlMs: number;
  /** Most entries of each map (principals; verified access tokens); the oldest is dropped first. */
  maxEntries: number;
  /** `lastUsedAt` is written at most this often per key from cache hits (ms; identity-store.ts LAST_USED_EVERY_MS). */
  lastUsedEveryMs: number;
  /** Writes a key's `lastUsedAt` (not awaited; identity-store.ts `noteKeyUsed`). */
  noteKeyUsed: (keyId: string, at: number) => void;
  /** Clock (ms since the epoch); tests move it. */
  clock?: () => number;
}

interface PrincipalEntry {
  principal: Principal;
  userId: string;
  /** Dropped at this time (ms): the TTL, or an API key's own `expiresAt` if sooner. */
  expiresAt: number;
  keyId?: string;
  /** The key's `lastUsedAt` as last written or read (ms). */
  lastUsedAt?: number;
}

interface TokenEntry {
  sub: string;
  /** The token's `exp` (ms). */
  expiresAt: number;
}

/** A stamp taken before a lookup: a result is cached only if nothing was invalidated meanwhile. */
export type CacheStamp = number;

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * A replica's bounded cache of resolved credentials (issue 12: "resolve a credential once per key and
 * cache the principal in the replica, with invalidation on the existing auth channel"), so a request
 * with a known credential costs no Redis round trip and, for an access token, no signature check:
 *
 * - API keys: SHA-256 of the presented key → its principal (the key itself is never a map key), kept
 *   for `ttlMs` or until the key's own `expiresAt`, whichever is first; a hit writes the key's
 *   `lastUsedAt` when it is older than `lastUsedEveryMs` (as the identity store does on a lookup).
 * - Access tokens: SHA-256 of the token → its verified `sub`, until the token's `exp` (the signature,
 *   `iss`, `aud` and `exp` checks are pure: they give the same answer until then); the user's
 *   principal (roles) by user id, kept for `ttlMs`.
 *
 * Every entry of a user is dropped at once when its id arrives on `<prefix>auth` (identity-store.ts
 * `publishAuthChange`: a key revoked, a membership added, changed or removed, a project deleted) on
 * this replica's one subscriber connection, or from this process's own identity store
 * (`onAuthChange`, before the publish). Since pub/sub does not buffer, the cache keeps nothing while
 * that connection is not subscribed (at start, and from a disconnect until it is subscribed again),
 * and drops everything when it goes down. A lookup that raced with an invalidation is not cached
 * (`stamp`). Principals are handed out as shallow copies (a store may set `roles` on its actor).
 */
export class PrincipalCache {
  private readonly principals = new Map<string, PrincipalEntry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly clock: () => number;
  /** Bumped by every invalidation; see `stamp`. */
  private generation = 0;
  /** True while invalidations are known to arrive (the subscriber is subscribed to the auth channel). */
  private live = false;

  constructor(private readonly o: PrincipalCacheOptions) {
    this.clock = o.clock ?? Date.now;
  }

  /** Whether entries are kept now (TTL above 0 and the invalidation channel subscribed). */
  get active(): boolean {
    return this.live && this.o.ttlMs > 0;
  }

  /** Entries held (principals, verified tokens), for tests and status. */
  get size(): { principals: number; tokens: number } {
    return { principals: this.principals.size, tokens: this.tokens.size };
  }

  /**
   * Listens for invalidations on `channel` (`<prefix>auth`, payload a user id) on the replica's
   * subscriber connection, which it shares with the WebSocket gateway (no connection of its own).
   * Caching starts once the channel is subscribed, stops (and the cache empties) when the connection
   * closes, and starts again once it is subscribed again after a reconnect.
   */
  attach(subscriber: RedisClient, channel: string): void {
    let epoch = 0;
    const subscribe = () => {
      const at = ++epoch;
      subscriber.subscribe(channel).then(
        () => {
          if (at === epoch && subscriber.status === 'ready') this.live = true;
        },
        () => undefined,
      );
    };
    subscriber.on('message', (ch: string, userId: string) => {
      if (ch === channel) this.invalidateUser(userId);
    });
    subscriber.on('close', () => {
      epoch++;
      this.live = false;
      this.clear();
    });
    // ioredis re-subscribes by itself after 'ready'; this SUBSCRIBE is answered after that one.
    subscriber.on('ready', subscribe);
    if (subscriber.status === 'ready') subscribe();
  }

  /** A stamp to pass to `putApiKey`/`putUser` for a lookup that starts now. */
  stamp(): CacheStamp {
    return this.generation;
  }

  /** The cached principal of a presented API key, or undefined (not cached, expired, cache inactive). */
  apiKey(presented: string): Principal | undefined {
    if (!this.active) return undefined;
    const key = `k:${sha256(presented)}`;
    const e = this.fresh(key);
    if (!e) return undefined;
    const now = this.clock();
    if (e.keyId && now - (e.lastUsedAt ?? 0) > this.o.lastUsedEveryMs) {
      e.lastUsedAt = now;
      this.o.noteKeyUsed(e.keyId, now);
    }
    return { ...e.principal };
  }

  /**
   * Caches the principal of a presented API key, resolved from Redis after `stamp` was taken, until
   * `ttlMs` from now or the key's `expiresAt` (ms), whichever is first.
   */
  putApiKey(presented: string, r: { principal: Principal; expiresAt: number | null; lastUsedAt: number }, stamp: CacheStamp): void {
    if (!this.active || stamp !== this.generation) return;
    const expiresAt = Math.min(this.clock() + this.o.ttlMs, r.expiresAt ?? Infinity);
    this.put(`k:${sha256(presented)}`, { principal: r.principal, userId: r.principal.id, expiresAt, keyId: r.principal.keyId, lastUsedAt: r.lastUsedAt });
  }

  /** The verified subject of an access token, or undefined (not cached, past its `exp`, cache off). */
  tokenSubject(token: string): string | undefined {
    if (this.o.ttlMs <= 0) return undefined;
    const key = sha256(token);
    const e = this.tokens.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock()) {
      this.tokens.delete(key);
      return undefined;
    }
    return e.sub;
  }

  /** Caches a verified access token's subject until its `exp` (seconds since the epoch, as in the JWT). */
  putToken(token: string, sub: string, exp: number | undefined): void {
    if (this.o.ttlMs <= 0 || exp === undefined) return;
    const expiresAt = exp * 1000;
    if (expiresAt <= this.clock()) return;
    const key = sha256(token);
    this.tokens.delete(key);
    this.tokens.set(key, { sub, expiresAt });
    if (this.tokens.size > this.o.maxEntries) this.tokens.delete(this.tokens.keys().next().value as string);
  }

  /** The cached principal of user `userId` as an access token acts (kind `user`), or undefined. */
  user(userId: string): Principal | undefined {
    if (!this.active) return undefined;
    const e = this.fresh(`u:${userId}`);
    return e ? { ...e.principal } : undefined;
  }

  /** Caches a user's principal (kind `user`), read from Redis after `stamp` was taken, for `ttlMs`. */
  putUser(principal: Principal, stamp: CacheStamp): void {
    if (!this.active || stamp !== this.generation) return;
    this.put(`u:${principal.id}`, { principal, userId: principal.id, expiresAt: this.clock() + this.o.ttlMs });
  }

  /** Drops every entry of `userId` (its keys and its token principal); lookups in flight are not cached. */
  invalidateUser(userId: string): void {
    this.generation++;
    const keys = this.byUser.get(userId);
    if (!keys) return;
    for (const k of keys) this.principals.delete(k);
    this.byUser.delete(userId);
  }

  /** Drops every principal (verified tokens stay: they do not depend on Redis). */
  clear(): void {
    this.generation++;
    this.principals.clear();
    this.byUser.clear();
  }

  private fresh(key: string): PrincipalEntry | undefined {
    const e = this.principals.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock()) {
      this.remove(key, e);
      return undefined;
    }
    return e;
  }

  private put(key: string, e: PrincipalEntry): void {
    const old = this.principals.get(key);
    if (old) this.remove(key, old);
    this.principals.set(key, e);
    let keys = this.byUser.get(e.userId);
    if (!keys) this.byUser.set(e.userId, (keys = new Set()));
    keys.add(key);
    if (this.principals.size > this.o.maxEntries) {
      const [oldestKey, oldest] = this.principals.entries().next().value as [string, PrincipalEntry];
      this.remove(oldestKey, oldest);
    }
  }

  private remove(key: string, e: PrincipalEntry): void {
    this.principals.delete(key);
    const keys = this.byUser.get(e.userId);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(e.userId);
  }
}
