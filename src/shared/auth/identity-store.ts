import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, NotFoundError, UnauthorizedError } from '../errors.js';
import type { Principal, ProjectRole } from '../principal.js';
import type { RedisClient } from '../redis-connection.js';
import { withScripts, type ScriptedRedis } from '../redis-scripts.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.js';

/** A user as returned by the API (never the password hash). */
export interface PublicUser {
  id: string;
  email: string;
  name: string;
  admin: boolean;
  createdAt: number;
}

/** An API key as listed (never its secret). */
export interface PublicApiKey {
  id: string;
  name: string;
  projectId: string | null;
  /** Set for a session key (contract 00 "Spawn"): scoped to that session of `projectId`. */
  sessionId: string | null;
  readOnly: boolean;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  /** A key that stops working by itself at this time (ms), e.g. a manifest generator's. */
  expiresAt: number | null;
}

/** A member of a project as listed: the same shape for an account and for a pending invitation. */
export interface ProjectMemberView {
  email: string;
  role: ProjectRole;
}

/** Caps of the identity store (contract 00 "Tenancy limits"; config MAX_API_KEYS_PER_USER, REFRESH_REUSE_WINDOW_SECONDS). */
export interface IdentityLimits {
  /** Active personal API keys per user (session keys not counted). */
  maxApiKeysPerUser: number;
  /** Seconds a spent refresh token is kept so that its reuse is detected. */
  refreshReuseWindowSeconds: number;
}

const DEFAULT_LIMITS: IdentityLimits = { maxApiKeysPerUser: 100, refreshReuseWindowSeconds: 86_400 };
/** How long a revoked key stays listed (ms), and how many revoked keys a user's list keeps. */
const REVOKED_KEPT_MS = 30 * 86_400_000;
const REVOKED_LISTED = 100;
/** lastUsedAt is written at most this often per key (ms): not one Redis write per request. */
export const LAST_USED_EVERY_MS = 60_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');
const shortId = () => randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
/** Ids this store makes (`shortId`) and user ids (`usr_<ms>_<shortId>`): nothing that can leave a hash tag. */
const ID_RE = /^[A-Za-z0-9_]{1,64}$/;

/** A user from its stored hash (`{u:<id>}:user`), or undefined when the hash is empty (no such user). */
function userFrom(h: Record<string, string>): (PublicUser & { passwordHash: string }) | undefined {
  if (!h.id) return undefined;
  return { id: h.id, email: h.email!, name: h.name ?? '', admin: h.admin === '1', createdAt: Number(h.createdAt), passwordHash: h.passwordHash! };
}

/** A presented API key that works, as `resolveApiKey` found it. */
export interface ResolvedApiKey {
  principal: Principal;
  /** When the key stops working by itself (ms since the epoch), or null. */
  expiresAt: number | null;
  /** The key's `lastUsedAt` as stored after this use (ms since the epoch; see LAST_USED_EVERY_MS). */
  lastUsedAt: number;
}

/** Over a per-user cap: 429 RATE_LIMITED (contract 00 "Tenancy limits"). */
export class CapExceededError extends AppError {
  constructor(message: string) {
    super(429, 'RATE_LIMITED', message, { envelope: 'route', headers: { 'Retry-After': '60' } });
  }
}

/**
 * Users, refresh-token families, API keys, WebSocket tickets, project memberships and invitations
 * (contract 00 "Identity and access", "Tenancy limits"). Secrets are stored only as SHA-256 hashes (they
 * are 256-bit random, so a fast hash suffices); passwords with scrypt (passwords.ts). Keys of one user
 * share the hash tag `{u:<id>}`; a refresh family and its tokens share `{rf:<familyId>}` so rotation is
 * one atomic step; a project's members and invitations live in its own slot (`{<projectId>}:members`,
 * `:invites`), written after the user-side index (a crash leaves at most an entry a reader ignores).
 * Every change to what a credential may do is published on `<prefix>auth` (the user id), so every
 * replica's open WebSockets re-check their rights at once.
 */
export class IdentityStore {
  private readonly redis: ScriptedRedis;
  private readonly limits: IdentityLimits;
  private readonly authListeners = new Set<(userId: string) => void>();

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    limits: Partial<IdentityLimits> = {},
  ) {
    this.redis = withScripts(redis);
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  private k = {
    email: (email: string) => `${this.prefix}user-email:${email.toLowerCase()}`,
    user: (id: string) => `${this.prefix}{u:${id}}:user`,
    userProjects: (id: string) => `${this.prefix}{u:${id}}:projects`,
    /** The user's active personal keys (capped). */
    userKeys: (id: string) => `${this.prefix}{u:${id}}:apikeys`,
    /** The user's active session keys (bounded by sessions × MAX_API_KEYS_PER_SESSION). */
    userSessionKeys: (id: string) => `${this.prefix}{u:${id}}:apikeys:session`,
    /** Recently revoked keys (zset by revokedAt, newest REVOKED_LISTED kept). */
    userRevokedKeys: (id: string) => `${this.prefix}{u:${id}}:apikeys:revoked`,
    users: () => `${this.prefix}users`,
    apiKey: (id: string) => `${this.prefix}apikey:${id}`,
    family: (fam: string) => `${this.prefix}{rf:${fam}}:family`,
    refresh: (fam: string, id: string) => `${this.prefix}{rf:${fam}}:t:${id}`,
    ticket: (t: string) => `${this.prefix}ws-ticket:${sha256(t)}`,
    members: (projectId: string) => `${this.prefix}{${projectId}}:members`,
    invites: (projectId: string) => `${this.prefix}{${projectId}}:invites`,
    /** Invitations waiting for an email to register: projectId → role. */
    emailInvites: (email: string) => `${this.prefix}invite:${email.toLowerCase()}`,
  };

  /**
   * Tells every replica that what `userId`'s credentials may do changed (their sockets re-check, their
   * principal caches drop the user): first this process's `onAuthChange` listeners, synchronously,
   * then `<prefix>auth` for every process.
   */
  async publishAuthChange(userId: string): Promise<void> {
    for (const listener of this.authListeners) listener(userId);
    await this.redis.publish(`${this.prefix}auth`, userId);
  }

  /**
   * Calls `listener(userId)` in this process on every `publishAuthChange`, before it is published (so
   * the replica that made a change never serves the old rights from a cache, whatever the pub/sub
   * delay). Returns a function that removes it.
   */
  onAuthChange(listener: (userId: string) => void): () => void {
    this.authListeners.add(listener);
    return () => this.authListeners.delete(listener);
  }

  /** Number of users (for first-start bootstrap). */
  async userCount(): Promise<number> {
    return this.redis.scard(this.k.users());
  }

  /**
   * Registers a user; 409 CONFLICT when the email is taken. Password ≥ 8 characters (route checks).
   * Invitations waiting for the email (item 12) become memberships.
   */
  async register(email: string, password: string, name: string, admin = false): Promise<PublicUser> {
    const id = `usr_${Date.now()}_${shortId()}`;
    const claimed = await this.redis.set(this.k.email(email), id, 'NX');
    if (claimed !== 'OK') throw new AppError(409, 'CONFLICT', 'An account with this email already exists', { envelope: 'route' });
    const user: PublicUser = { id, email: email.toLowerCase(), name, admin, createdAt: Date.now() };
    await this.redis.hset(this.k.user(id), { ...user, admin: admin ? '1' : '0', createdAt: String(user.createdAt), passwordHash: await hashPassword(password) });
    await this.redis.sadd(this.k.users(), id);
    const invites = await this.redis.hgetall(this.k.emailInvites(user.email));
    for (const [projectId, role] of Object.entries(invites)) {
      // an invitation withdrawn meanwhile is gone from the project side: it grants nothing
      if ((await this.redis.hget(this.k.invites(projectId), user.email)) === null) continue;
      await this.setMember(projectId, id, role as ProjectRole);
      await this.redis.hdel(this.k.invites(projectId), user.email);
    }
    if (Object.keys(invites).length) await this.redis.del(this.k.emailInvites(user.email));
    return user;
  }

  /** The user, or undefined. */
  async user(id: string): Promise<(PublicUser & { passwordHash: string }) | undefined> {
    if (!ID_RE.test(id)) return undefined;
    return userFrom(await this.redis.hgetall(this.k.user(id)));
  }

  /** The id of the user with `email` (case-insensitive), or undefined. */
  async userIdByEmail(email: string): Promise<string | undefined> {
    return (await this.redis.get(this.k.email(email))) ?? undefined;
  }

  /** Checks email + password; any failure is the same 401 (no hint whether the email exists). */
  async login(email: string, password: string): Promise<PublicUser> {
    const id = await this.redis.get(this.k.email(email));
    const user = id ? await this.user(id) : undefined;
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) throw new UnauthorizedError('Invalid email or password');
    const { passwordHash: _omit, ...pub } = user;
    return pub;
  }

  /** Project roles of a user: projectId → role. */
  async roles(userId: string): Promise<Record<string, ProjectRole>> {
    return (await this.redis.hgetall(this.k.userProjects(userId))) as Record<string, ProjectRole>;
  }

  /**
   * The principal of a user (roles loaded), or undefined when the user no longer exists. A credential
   * scoped to a project is never a global admin; a scoped credential of an admin holds `owner` in its
   * project (so an admin's spawn in a project it is no member of works: item 19).
   */
  async principalOf(
    userId: string,
    kind: Principal['kind'] = 'user',
    scope: { keyId?: string; projectId?: string; sessionId?: string; readOnly?: boolean } = {},
  ): Promise<Principal | undefined> {
    if (!ID_RE.test(userId)) return undefined;
    // one round trip: the user and its roles share the user's slot
    const res = await this.redis.pipeline().hgetall(this.k.user(userId)).hgetall(this.k.userProjects(userId)).exec();
    for (const [err] of res ?? []) if (err) throw err;
    const user = userFrom((res?.[0]?.[1] as Record<string, string>) ?? {});
    if (!user) return undefined;
    const roles = (res?.[1]?.[1] as Record<string, ProjectRole>) ?? {};
    if (scope.projectId && user.admin) roles[scope.projectId] = 'owner';
    const p: Principal = { id: user.id, kind, admin: user.admin && !scope.projectId, roles };
    if (scope.keyId) p.keyId = scope.keyId;
    if (scope.projectId) p.projectId = scope.projectId;
    if (scope.sessionId) p.sessionId = scope.sessionId;
    if (scope.readOnly) p.readOnly = true;
    return p;
  }

  /**
   * The same principal read again (its roles, and for a key whether it still works): undefined once
   * the user is gone or the key revoked or expired. The WebSocket gateway calls it on every auth change.
   */
  async refreshPrincipal(p: Principal): Promise<Principal | undefined> {
    if (p.kind === 'local') return p;
    if (p.keyId) {
      const h = await this.redis.hgetall(this.k.apiKey(p.keyId));
      if (!this.keyUsable(h)) return undefined;
    }
    return this.principalOf(p.id, p.kind, p);
  }

  // ── refresh tokens ─────────────────────────────────────────────────────────────────────────────

  /**
   * Issues a refresh token `rt_<familyId>.<tokenId>.<secret>` of a new family (login, register),
   * valid `ttlSeconds`.
   */
  async issueRefresh(userId: string, ttlSeconds: number): Promise<string> {
    const fam = shortId();
    const id = shortId();
    const secret = token();
    await this.redis.hset(this.k.family(fam), { userId, state: 'active' });
    await this.redis.expire(this.k.family(fam), ttlSeconds);
    await this.redis.hset(this.k.refresh(fam, id), { hash: sha256(secret) });
    await this.redis.expire(this.k.refresh(fam, id), ttlSeconds);
    return `rt_${fam}.${id}.${secret}`;
  }

  /**
   * Rotates a refresh token in one atomic step (refresh-rotate.lua): the presented one is spent (and
   * kept only for the reuse window) and a successor of the same family returned. Presenting a spent
   * token (it was stolen, or replayed) deletes the whole family, successors included. Invalid,
   * expired or revoked → 401. Tokens of the format before this change (`rt_<id>.<secret>`) → 401: log in again.
   */
  async rotateRefresh(presented: string, ttlSeconds: number): Promise<{ userId: string; refreshToken: string }> {
    const m = /^rt_(\w{1,64})\.(\w{1,64})\.([\w-]{1,128})$/.exec(presented);
    if (!m) throw new UnauthorizedError('Invalid refresh token');
    const [, fam, id, secret] = m as unknown as [string, string, string, string];
    const nextId = shortId();
    const nextSecret = token();
    const [outcome, userId] = await this.redis.maestroRefreshRotate(
      3,
      this.k.family(fam),
      this.k.refresh(fam, id),
      this.k.refresh(fam, nextId),
      sha256(secret),
      sha256(nextSecret),
      String(ttlSeconds),
      String(Math.min(this.limits.refreshReuseWindowSeconds, ttlSeconds)),
      String(Date.now()),
    );
    if (outcome === 'reuse') throw new UnauthorizedError('Refresh token reuse detected: all sessions of this login were revoked');
    if (outcome === 'revoked') throw new UnauthorizedError('Refresh token revoked');
    if (outcome !== 'ok' || !userId) throw new UnauthorizedError('Invalid refresh token');
    return { userId, refreshToken: `rt_${fam}.${nextId}.${nextSecret}` };
  }

  /**
   * Logout: revokes the family of a refresh token, but only when the whole token (its secret) is
   * presented (item 11: a token id alone revokes nothing). Returns whether a family was revoked.
   */
  async revokeRefresh(presented: string): Promise<boolean> {
    const m = /^rt_(\w{1,64})\.(\w{1,64})\.([\w-]{1,128})$/.exec(presented);
    if (!m) return false;
    const [, fam, id, secret] = m as unknown as [string, string, string, string];
    const stored = await this.redis.hget(this.k.refresh(fam, id), 'hash');
    if (!stored || !sameHash(stored, sha256(secret))) return false;
    return (await this.redis.del(this.k.family(fam))) === 1;
  }

  // ── API keys ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Creates a key `mk_<id>.<secret>` for a user, optionally scoped to one project, one session of it
   * (a session key), read-only, and/or expiring after `ttlMs`. Personal keys (no session) are capped
   * per user (MAX_API_KEYS_PER_USER → 429 RATE_LIMITED); session keys are bounded per session by the
   * caller. The secret is in the result only: it is stored as its SHA-256.
   */
  async createApiKey(
    userId: string,
    o: { name?: string; projectId?: string | null; sessionId?: string | null; readOnly?: boolean; ttlMs?: number },
  ): Promise<PublicApiKey & { key: string }> {
    const id = shortId();
    const secret = token();
    const now = Date.now();
    const rec: PublicApiKey = {
      id,
      name: o.name ?? '',
      projectId: o.projectId ?? null,
      sessionId: o.sessionId ?? null,
      readOnly: Boolean(o.readOnly),
      createdAt: now,
      revokedAt: null,
      lastUsedAt: null,
      expiresAt: o.ttlMs ? now + o.ttlMs : null,
    };
    const set = rec.sessionId ? this.k.userSessionKeys(userId) : this.k.userKeys(userId);
    if (!rec.sessionId) await this.reservePersonalSlot(userId, id);
    else await this.redis.sadd(set, id);
    await this.redis.hset(this.k.apiKey(id), {
      id,
      userId,
      name: rec.name,
      projectId: rec.projectId ?? '',
      sessionId: rec.sessionId ?? '',
      readOnly: rec.readOnly ? '1' : '0',
      createdAt: String(rec.createdAt),
      ...(rec.expiresAt ? { expiresAt: String(rec.expiresAt) } : {}),
      hash: sha256(secret),
    });
    if (o.ttlMs) await this.redis.pexpire(this.k.apiKey(id), o.ttlMs + REVOKED_KEPT_MS);
    return { ...rec, key: `mk_${id}.${secret}` };
  }

  /**
   * Adds key `id` to the user's personal keys unless that makes more than the cap (atomic add+count);
   * over the cap it first moves out entries that are revoked or gone (keys revoked before this change
   * stayed in the set), then refuses with 429.
   */
  private async reservePersonalSlot(userId: string, id: string): Promise<void> {
    const set = this.k.userKeys(userId);
    const cap = this.limits.maxApiKeysPerUser;
    for (let pass = 0; pass < 2; pass++) {
      const res = await this.redis.multi().sadd(set, id).scard(set).exec();
      const count = Number(res?.[1]?.[1] ?? 0);
      if (count <= cap) return;
      await this.redis.srem(set, id);
      if (pass === 0 && (await this.pruneRevoked(userId)) === 0) break;
    }
    throw new CapExceededError(`At most ${cap} active API keys per user (MAX_API_KEYS_PER_USER); revoke one first`);
  }

  /** Moves revoked or vanished keys out of the user's active set; returns how many. */
  private async pruneRevoked(userId: string): Promise<number> {
    const set = this.k.userKeys(userId);
    const ids = await this.redis.smembers(set);
    const rows = await Promise.all(ids.map((id) => this.redis.hmget(this.k.apiKey(id), 'id', 'revokedAt')));
    const stale = ids.filter((_, i) => !rows[i]![0] || rows[i]![1]);
    if (stale.length) await this.redis.srem(set, ...stale);
    return stale.length;
  }

  private publicKey(h: Record<string, string>): PublicApiKey {
    return {
      id: h.id!,
      name: h.name ?? '',
      projectId: h.projectId || null,
      sessionId: h.sessionId || null,
      readOnly: h.readOnly === '1',
      createdAt: Number(h.createdAt),
      revokedAt: h.revokedAt ? Number(h.revokedAt) : null,
      lastUsedAt: h.lastUsedAt ? Number(h.lastUsedAt) : null,
      expiresAt: h.expiresAt ? Number(h.expiresAt) : null,
    };
  }

  /**
   * The keys `p` may see (policy `apiKey:manage`): a user's token sees every key of the user (active
   * personal, active session keys, the newest revoked); a scoped, session or read-only key sees only
   * itself. Newest first, never a secret.
   */
  async listApiKeys(p: Principal, ownOnly: boolean): Promise<PublicApiKey[]> {
    let ids: string[];
    if (ownOnly) ids = p.keyId ? [p.keyId] : [];
    else {
      const [personal, session, revoked] = await Promise.all([
        this.redis.smembers(this.k.userKeys(p.id)),
        this.redis.smembers(this.k.userSessionKeys(p.id)),
        this.redis.zrange(this.k.userRevokedKeys(p.id), '0', '-1'),
      ]);
      ids = [...new Set([...personal, ...session, ...revoked])];
    }
    const all = await Promise.all(ids.map((id) => this.redis.hgetall(this.k.apiKey(id))));
    return all.filter((h) => h.id && h.userId === p.id).map((h) => this.publicKey(h)).sort((a, b) => b.createdAt - a.createdAt);
  }

  /**
   * Revokes one of the user's keys (404 when it is not the user's). Takes effect on the next request
   * on every replica, and the sockets opened with it close (4401) within a moment.
   */
  async revokeApiKey(userId: string, id: string): Promise<PublicApiKey> {
    const h = ID_RE.test(id) ? await this.redis.hgetall(this.k.apiKey(id)) : {};
    if (!h.id || h.userId !== userId) throw new NotFoundError('API key', id);
    const at = h.revokedAt ?? String(Date.now());
    if (!h.revokedAt) await this.markRevoked(h.userId, id, at);
    return this.publicKey({ ...h, revokedAt: at });
  }

  /**
   * Revokes key `id` whoever owns it (a system action: a session's keys when it ends, is deleted or
   * replaced; a generator key after its run). No-op for an unknown or already revoked key.
   */
  async revokeKeyById(id: string): Promise<void> {
    if (!ID_RE.test(id)) return;
    const [exists, userId, revoked] = await this.redis.hmget(this.k.apiKey(id), 'id', 'userId', 'revokedAt');
    if (exists && userId && !revoked) await this.markRevoked(userId, id, String(Date.now()));
  }

  private async markRevoked(userId: string, id: string, at: string): Promise<void> {
    await this.redis.hset(this.k.apiKey(id), 'revokedAt', at);
    await this.redis.pexpire(this.k.apiKey(id), REVOKED_KEPT_MS);
    await this.redis
      .multi()
      .srem(this.k.userKeys(userId), id)
      .srem(this.k.userSessionKeys(userId), id)
      .zadd(this.k.userRevokedKeys(userId), at, id)
      .zremrangebyrank(this.k.userRevokedKeys(userId), 0, -REVOKED_LISTED - 1)
      .exec();
    await this.publishAuthChange(userId);
  }

  /** True for a stored key that works now (not revoked, not expired). */
  private keyUsable(h: Record<string, string>): boolean {
    return Boolean(h.hash) && !h.revokedAt && !(h.expiresAt && Number(h.expiresAt) <= Date.now());
  }

  /** The principal of a presented key, or undefined (unknown, wrong secret, revoked, expired, user gone). */
  async authenticateKey(presented: string): Promise<Principal | undefined> {
    return (await this.resolveApiKey(presented))?.principal;
  }

  /**
   * A presented key that works now: its principal, expiry and `lastUsedAt` (written when older than
   * LAST_USED_EVERY_MS); undefined when unknown, wrong secret, revoked, expired or its user gone.
   */
  async resolveApiKey(presented: string): Promise<ResolvedApiKey | undefined> {
    const m = /^mk_(\w{1,64})\.([\w-]{1,128})$/.exec(presented);
    if (!m) return undefined;
    const h = await this.redis.hgetall(this.k.apiKey(m[1]!));
    if (!this.keyUsable(h) || !sameHash(h.hash!, sha256(m[2]!))) return undefined;
    const now = Date.now();
    let lastUsedAt = Number(h.lastUsedAt ?? 0);
    if (!h.lastUsedAt || now - lastUsedAt > LAST_USED_EVERY_MS) {
      this.noteKeyUsed(h.id!, now);
      lastUsedAt = now;
    }
    const principal = await this.principalOf(h.userId!, 'apiKey', {
      keyId: h.id!,
      ...(h.projectId ? { projectId: h.projectId } : {}),
      ...(h.sessionId ? { sessionId: h.sessionId } : {}),
      ...(h.readOnly === '1' ? { readOnly: true } : {}),
    });
    return principal && { principal, expiresAt: h.expiresAt ? Number(h.expiresAt) : null, lastUsedAt };
  }

  /**
   * Records that key `keyId` was used at `at` (ms): `lastUsedAt`, not awaited, errors ignored. Callers
   * write it at most once per LAST_USED_EVERY_MS per key (a principal cache's hits included).
   */
  noteKeyUsed(keyId: string, at: number): void {
    if (!ID_RE.test(keyId)) return;
    void this.redis.hset(this.k.apiKey(keyId), 'lastUsedAt', String(at)).catch(() => undefined);
  }

  /** Ids of the keys of `keyIds` that still work (for the per-session cap). */
  async activeKeyIds(keyIds: string[]): Promise<string[]> {
    const rows = await Promise.all(keyIds.filter((id) => ID_RE.test(id)).map(async (id) => [id, await this.redis.hgetall(this.k.apiKey(id))] as const));
    return rows.filter(([, h]) => this.keyUsable(h)).map(([id]) => id);
  }

  // ── WebSocket tickets ──────────────────────────────────────────────────────────────────────────

  /** A single-use ticket for a browser's WebSocket upgrade, valid `ttlSeconds` (stored hashed). */
  async issueTicket(p: Principal, ttlSeconds = 30): Promise<string> {
    const t = token();
    const scope = { userId: p.id, kind: p.kind, keyId: p.keyId, projectId: p.projectId, sessionId: p.sessionId, readOnly: p.readOnly };
    await this.redis.set(this.k.ticket(t), JSON.stringify(scope), 'EX', ttlSeconds);
    return t;
  }

  /** Redeems a ticket once (GETDEL); undefined when unknown, used, expired, or its key revoked since. */
  async redeemTicket(t: string): Promise<Principal | undefined> {
    const raw = (await this.redis.call('GETDEL', this.k.ticket(t))) as string | null;
    if (!raw) return undefined;
    const s = JSON.parse(raw) as { userId: string; kind: Principal['kind']; keyId?: string; projectId?: string; sessionId?: string; readOnly?: boolean };
    return this.refreshPrincipal({ id: s.userId, kind: s.kind, admin: false, ...(s.keyId ? { keyId: s.keyId } : {}), ...(s.projectId ? { projectId: s.projectId } : {}), ...(s.sessionId ? { sessionId: s.sessionId } : {}), ...(s.readOnly ? { readOnly: true } : {}) });
  }

  // ── memberships and invitations ────────────────────────────────────────────────────────────────

  /** Sets a member's role on both sides (user index first, then the project's members); publishes. */
  async setMember(projectId: string, userId: string, role: ProjectRole): Promise<void> {
    await this.redis.hset(this.k.userProjects(userId), projectId, role);
    await this.redis.hset(this.k.members(projectId), userId, role);
    await this.publishAuthChange(userId);
  }

  /**
   * Adds `email` to a project with `role` (item 12: by email only, and the same answer whether or not
   * an account has it): an account becomes a member at once; an unknown address gets an invitation
   * that becomes a membership when it registers.
   */
  async invite(projectId: string, email: string, role: ProjectRole): Promise<ProjectMemberView> {
    const addr = email.toLowerCase();
    const userId = await this.redis.get(this.k.email(addr));
    if (userId) await this.setMember(projectId, userId, role);
    else {
      await this.redis.hset(this.k.emailInvites(addr), projectId, role);
      await this.redis.hset(this.k.invites(projectId), addr, role);
    }
    return { email: addr, role };
  }

  /**
   * Finds a project member or invitation by email or user id (`ref`); undefined when neither. The
   * result says which, for changing or removing it.
   */
  async findMember(projectId: string, ref: string): Promise<{ userId?: string; email: string; role: ProjectRole } | undefined> {
    if (ref.includes('@')) {
      const addr = ref.toLowerCase();
      const invited = await this.redis.hget(this.k.invites(projectId), addr);
      if (invited) return { email: addr, role: invited as ProjectRole };
      const userId = await this.redis.get(this.k.email(addr));
      if (!userId) return undefined;
      const role = await this.redis.hget(this.k.members(projectId), userId);
      return role ? { userId, email: addr, role: role as ProjectRole } : undefined;
    }
    if (!ID_RE.test(ref)) return undefined;
    const role = await this.redis.hget(this.k.members(projectId), ref);
    const user = role ? await this.user(ref) : undefined;
    return role && user ? { userId: ref, email: user.email, role: role as ProjectRole } : undefined;
  }

  /** Changes the role of a member or an invitation found by `findMember`. */
  async changeMember(projectId: string, m: { userId?: string; email: string }, role: ProjectRole): Promise<void> {
    if (m.userId) await this.setMember(projectId, m.userId, role);
    else {
      await this.redis.hset(this.k.emailInvites(m.email), projectId, role);
      await this.redis.hset(this.k.invites(projectId), m.email, role);
    }
  }

  /** Removes a member (both sides; publishes) or withdraws an invitation found by `findMember`. */
  async removeMember(projectId: string, m: { userId?: string; email: string }): Promise<void> {
    if (m.userId) {
      await this.redis.hdel(this.k.members(projectId), m.userId);
      await this.redis.hdel(this.k.userProjects(m.userId), projectId);
      await this.publishAuthChange(m.userId);
    } else {
      await this.redis.hdel(this.k.invites(projectId), m.email);
      await this.redis.hdel(this.k.emailInvites(m.email), projectId);
    }
  }

  /**
   * The members and pending invitations of a project as `{email, role}` (item 12: the list does not
   * tell which addresses have an account), sorted by email.
   */
  async members(projectId: string): Promise<ProjectMemberView[]> {
    const [m, inv] = await Promise.all([this.redis.hgetall(this.k.members(projectId)), this.redis.hgetall(this.k.invites(projectId))]);
    const out: ProjectMemberView[] = [];
    for (const [userId, role] of Object.entries(m)) {
      const u = await this.user(userId);
      if (u) out.push({ email: u.email, role: role as ProjectRole });
    }
    for (const [email, role] of Object.entries(inv)) out.push({ email, role: role as ProjectRole });
    return out.sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
  }

  /** Removes every membership and invitation of a deleted project. */
  async removeProject(projectId: string): Promise<void> {
    const [m, inv] = await Promise.all([this.redis.hgetall(this.k.members(projectId)), this.redis.hgetall(this.k.invites(projectId))]);
    for (const userId of Object.keys(m)) await this.removeMember(projectId, { userId, email: '' });
    for (const email of Object.keys(inv)) await this.removeMember(projectId, { email });
  }
}
