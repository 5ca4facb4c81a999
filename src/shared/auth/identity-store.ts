import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, NotFoundError, UnauthorizedError } from '../errors.js';
import type { Principal, ProjectRole } from '../principal.js';
import type { RedisClient } from '../redis-connection.js';
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
  readOnly: boolean;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');
const shortId = () => randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');

/**
 * Users, refresh-token families, API keys, WebSocket tickets and project memberships (security
 * issue; contract 00 "Identity and access"). Secrets are stored only as SHA-256 hashes (they are
 * 256-bit random, so a fast hash suffices); passwords with scrypt (passwords.ts). Keys of one user
 * share the hash tag `{u:<id>}`; a project's members live in its own slot (`{<projectId>}:members`),
 * written after the user's index (a crash leaves at most an index entry the reader ignores).
 */
export class IdentityStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private k = {
    email: (email: string) => `${this.prefix}user-email:${email.toLowerCase()}`,
    user: (id: string) => `${this.prefix}{u:${id}}:user`,
    userProjects: (id: string) => `${this.prefix}{u:${id}}:projects`,
    userKeys: (id: string) => `${this.prefix}{u:${id}}:apikeys`,
    users: () => `${this.prefix}users`,
    apiKey: (id: string) => `${this.prefix}apikey:${id}`,
    refresh: (id: string) => `${this.prefix}refresh:${id}`,
    family: (id: string) => `${this.prefix}refresh-family:${id}`,
    ticket: (t: string) => `${this.prefix}ws-ticket:${sha256(t)}`,
    members: (projectId: string) => `${this.prefix}{${projectId}}:members`,
  };

  /** Number of users (for first-start bootstrap). */
  async userCount(): Promise<number> {
    return this.redis.scard(this.k.users());
  }

  /** Registers a user; 409 CONFLICT when the email is taken. Password ≥ 8 characters (route checks). */
  async register(email: string, password: string, name: string, admin = false): Promise<PublicUser> {
    const id = `usr_${Date.now()}_${shortId()}`;
    const claimed = await this.redis.set(this.k.email(email), id, 'NX');
    if (claimed !== 'OK') throw new AppError(409, 'CONFLICT', 'An account with this email already exists', { envelope: 'route' });
    const user: PublicUser = { id, email: email.toLowerCase(), name, admin, createdAt: Date.now() };
    await this.redis.hset(this.k.user(id), { ...user, admin: admin ? '1' : '0', createdAt: String(user.createdAt), passwordHash: await hashPassword(password) });
    await this.redis.sadd(this.k.users(), id);
    return user;
  }

  /** The user, or undefined. */
  async user(id: string): Promise<(PublicUser & { passwordHash: string }) | undefined> {
    const h = await this.redis.hgetall(this.k.user(id));
    if (!h.id) return undefined;
    return { id: h.id, email: h.email!, name: h.name ?? '', admin: h.admin === '1', createdAt: Number(h.createdAt), passwordHash: h.passwordHash! };
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

  /** The principal of a user (roles loaded), or undefined when the user no longer exists. */
  async principalOf(userId: string, kind: Principal['kind'] = 'user', scope: { projectId?: string; readOnly?: boolean } = {}): Promise<Principal | undefined> {
    const user = await this.user(userId);
    if (!user) return undefined;
    return { id: user.id, kind, admin: user.admin && !scope.projectId, roles: await this.roles(user.id), ...scope };
  }

  // ── refresh tokens ─────────────────────────────────────────────────────────────────────────────

  /** Issues a refresh token `rt_<id>.<secret>` in a family (new family on login), valid `ttlSeconds`. */
  async issueRefresh(userId: string, ttlSeconds: number, familyId = shortId()): Promise<string> {
    const id = shortId();
    const secret = token();
    await this.redis.hset(this.k.refresh(id), { userId, familyId, hash: sha256(secret), spent: '0' });
    await this.redis.expire(this.k.refresh(id), ttlSeconds);
    await this.redis.set(this.k.family(familyId), 'active', 'EX', ttlSeconds);
    return `rt_${id}.${secret}`;
  }

  /**
   * Rotates a refresh token: the presented one is spent and a new one of the same family returned.
   * Presenting a spent token (reuse: it was stolen, or replayed) revokes the whole family. Invalid,
   * expired or revoked → 401.
   */
  async rotateRefresh(presented: string, ttlSeconds: number): Promise<{ userId: string; refreshToken: string }> {
    const m = /^rt_([\w]+)\.([\w-]+)$/.exec(presented);
    if (!m) throw new UnauthorizedError('Invalid refresh token');
    const key = this.k.refresh(m[1]!);
    const h = await this.redis.hgetall(key);
    if (!h.hash || !sameHash(h.hash, sha256(m[2]!))) throw new UnauthorizedError('Invalid refresh token');
    if ((await this.redis.get(this.k.family(h.familyId!))) !== 'active') throw new UnauthorizedError('Refresh token revoked');
    // Spend atomically: only the first presenter wins; any later one is a reuse.
    const was = await this.redis.hsetnx(key, 'spentAt', String(Date.now()));
    if (was === 0) {
      await this.redis.del(this.k.family(h.familyId!));
      throw new UnauthorizedError('Refresh token reuse detected: all sessions of this login were revoked');
    }
    return { userId: h.userId!, refreshToken: await this.issueRefresh(h.userId!, ttlSeconds, h.familyId) };
  }

  /** Revokes the family of a refresh token (logout); unknown tokens are ignored. */
  async revokeRefresh(presented: string): Promise<void> {
    const m = /^rt_([\w]+)\./.exec(presented);
    if (!m) return;
    const familyId = await this.redis.hget(this.k.refresh(m[1]!), 'familyId');
    if (familyId) await this.redis.del(this.k.family(familyId));
  }

  // ── API keys ───────────────────────────────────────────────────────────────────────────────────

  /** Creates a key `mk_<id>.<secret>` for a user, optionally scoped to one project and/or read-only. */
  async createApiKey(userId: string, o: { name?: string; projectId?: string | null; readOnly?: boolean }): Promise<PublicApiKey & { key: string }> {
    const id = shortId();
    const secret = token();
    const rec: PublicApiKey = { id, name: o.name ?? '', projectId: o.projectId ?? null, readOnly: Boolean(o.readOnly), createdAt: Date.now(), revokedAt: null, lastUsedAt: null };
    await this.redis.hset(this.k.apiKey(id), {
      id,
      userId,
      name: rec.name,
      projectId: rec.projectId ?? '',
      readOnly: rec.readOnly ? '1' : '0',
      createdAt: String(rec.createdAt),
      hash: sha256(secret),
    });
    await this.redis.sadd(this.k.userKeys(userId), id);
    return { ...rec, key: `mk_${id}.${secret}` };
  }

  private publicKey(h: Record<string, string>): PublicApiKey {
    return {
      id: h.id!,
      name: h.name ?? '',
      projectId: h.projectId || null,
      readOnly: h.readOnly === '1',
      createdAt: Number(h.createdAt),
      revokedAt: h.revokedAt ? Number(h.revokedAt) : null,
      lastUsedAt: h.lastUsedAt ? Number(h.lastUsedAt) : null,
    };
  }

  /** The user's keys (without secrets), newest first. */
  async listApiKeys(userId: string): Promise<PublicApiKey[]> {
    const ids = await this.redis.smembers(this.k.userKeys(userId));
    const all = await Promise.all(ids.map((id) => this.redis.hgetall(this.k.apiKey(id))));
    return all.filter((h) => h.id).map((h) => this.publicKey(h)).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Revokes one of the user's keys (404 otherwise). Takes effect on the next request, everywhere. */
  async revokeApiKey(userId: string, id: string): Promise<PublicApiKey> {
    const h = await this.redis.hgetall(this.k.apiKey(id));
    if (!h.id || h.userId !== userId) throw new NotFoundError('API key', id);
    await this.redis.hset(this.k.apiKey(id), 'revokedAt', String(Date.now()));
    return this.publicKey({ ...h, revokedAt: String(Date.now()) });
  }

  /**
   * Revokes key `id` whoever owns it (a system action: the key a spawn minted for a session, revoked
   * when the session ends). No-op for an unknown or already revoked key.
   */
  async revokeKeyById(id: string): Promise<void> {
    const key = this.k.apiKey(id);
    const [exists, revoked] = await this.redis.hmget(key, 'id', 'revokedAt');
    if (exists && !revoked) await this.redis.hset(key, 'revokedAt', String(Date.now()));
  }

  /** The principal of a presented key, or undefined (unknown, wrong secret, revoked, user gone). */
  async authenticateKey(presented: string): Promise<Principal | undefined> {
    const m = /^mk_([\w]+)\.([\w-]+)$/.exec(presented);
    if (!m) return undefined;
    const h = await this.redis.hgetall(this.k.apiKey(m[1]!));
    if (!h.hash || h.revokedAt || !sameHash(h.hash, sha256(m[2]!))) return undefined;
    void this.redis.hset(this.k.apiKey(m[1]!), 'lastUsedAt', String(Date.now())).catch(() => undefined);
    return this.principalOf(h.userId!, 'apiKey', { ...(h.projectId ? { projectId: h.projectId } : {}), ...(h.readOnly === '1' ? { readOnly: true } : {}) });
  }

  // ── WebSocket tickets ──────────────────────────────────────────────────────────────────────────

  /** A single-use ticket for a browser's WebSocket upgrade, valid `ttlSeconds` (stored hashed). */
  async issueTicket(p: Principal, ttlSeconds = 30): Promise<string> {
    const t = token();
    await this.redis.set(this.k.ticket(t), JSON.stringify({ userId: p.id, kind: p.kind, projectId: p.projectId, readOnly: p.readOnly }), 'EX', ttlSeconds);
    return t;
  }

  /** Redeems a ticket once (GETDEL); undefined when unknown, used or expired. */
  async redeemTicket(t: string): Promise<Principal | undefined> {
    const raw = (await this.redis.call('GETDEL', this.k.ticket(t))) as string | null;
    if (!raw) return undefined;
    const s = JSON.parse(raw) as { userId: string; kind: Principal['kind']; projectId?: string; readOnly?: boolean };
    return this.principalOf(s.userId, s.kind, { ...(s.projectId ? { projectId: s.projectId } : {}), ...(s.readOnly ? { readOnly: true } : {}) });
  }

  // ── memberships ────────────────────────────────────────────────────────────────────────────────

  /** Sets a member's role on both sides (user index first, then the project's members). */
  async setMember(projectId: string, userId: string, role: ProjectRole): Promise<void> {
    await this.redis.hset(this.k.userProjects(userId), projectId, role);
    await this.redis.hset(this.k.members(projectId), userId, role);
  }

  /** Removes a member from both sides. */
  async removeMember(projectId: string, userId: string): Promise<void> {
    await this.redis.hdel(this.k.members(projectId), userId);
    await this.redis.hdel(this.k.userProjects(userId), projectId);
  }

  /** The members of a project with their emails. */
  async members(projectId: string): Promise<{ userId: string; email: string; name: string; role: ProjectRole }[]> {
    const m = await this.redis.hgetall(this.k.members(projectId));
    const out = [];
    for (const [userId, role] of Object.entries(m)) {
      const u = await this.user(userId);
      if (u) out.push({ userId, email: u.email, name: u.name, role: role as ProjectRole });
    }
    return out;
  }

  /** User id of an email, or undefined. */
  async userIdByEmail(email: string): Promise<string | undefined> {
    return (await this.redis.get(this.k.email(email))) ?? undefined;
  }
}
