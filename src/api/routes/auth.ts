import type { Request } from 'express';
import { z } from 'zod';
import type { IdentityStore } from '../../shared/auth/identity-store.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../shared/auth/passwords.js';
import { signAccessToken, type KeyRing } from '../../shared/auth/tokens.js';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../../shared/errors.js';
import { allows, authorize, canRead, visibleRoles } from '../../shared/access/policy.js';
import type { ProjectRole } from '../../shared/principal.js';
import type { ApiDeps } from '../api-deps.js';
import { body, parse, principal, sendJson } from '../http.js';
import type { RouteSpec } from '../route-table.js';
import { MeSchema, MemberRemovedSchema, SuccessSchema, WsTicketSchema } from '../../shared/schemas/auth-wire.js';

const email = z.string({ error: 'email is required' }).trim().toLowerCase().email({ error: 'email must be a valid address' }).max(254);
const password = z.string({ error: 'password is required' }).min(PASSWORD_MIN_LENGTH, { error: `password must be at least ${PASSWORD_MIN_LENGTH} characters` }).max(PASSWORD_MAX_LENGTH);
/** Request schemas of the auth, API-key and member routes (also used by the OpenAPI document). */
export const authSchemas = {
  register: z.object({ email, password, name: z.string().max(200).optional() }),
  login: z.object({ email: z.string({ error: 'email is required' }).max(254), password: z.string({ error: 'password is required' }).max(PASSWORD_MAX_LENGTH) }),
  refresh: z.object({ refreshToken: z.string({ error: 'refreshToken is required' }).max(512) }),
  apiKey: z.object({
    name: z.string().max(200).optional(),
    projectId: z.string().max(128).nullable().optional(),
    readOnly: z.boolean({ error: 'readOnly must be a boolean' }).optional(),
  }),
  member: z.object({
    email: z.string({ error: 'email is required (members are added by email)' }).trim().toLowerCase().email({ error: 'email must be a valid address' }).max(254),
    role: z.enum(['owner', 'editor', 'viewer'], { error: 'role must be owner, editor or viewer' }),
  }),
  memberRole: z.object({ role: z.enum(['owner', 'editor', 'viewer'], { error: 'role must be owner, editor or viewer' }) }),
};

/** Wiring of the auth routes. */
export interface AuthRouteDeps {
  identity: IdentityStore;
  /** The JWT key ring (loaded once Redis answers). */
  ring: () => Promise<KeyRing>;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

/**
 * `/auth/register|login|refresh|logout|me|ws-ticket`, `/api-keys`, `/projects/:id/members`
 * (security issue; contract 00 "Identity and access"). Register, login and refresh are `open` (the
 * paths middleware/authenticate.ts lets through without a credential).
 */
export function authRoutes(deps: ApiDeps, a: AuthRouteDeps): RouteSpec[] {
  const tokens = async (userId: string, refreshToken?: string) => ({
    accessToken: await signAccessToken(await a.ring(), userId, a.accessTtlSeconds),
    tokenType: 'Bearer',
    expiresIn: a.accessTtlSeconds,
    refreshToken: refreshToken ?? (await a.identity.issueRefresh(userId, a.refreshTtlSeconds)),
  });
  const actor = (req: Request) => {
    const p = principal(req);
    if (p.kind === 'local') throw new ForbiddenError('Authentication is disabled on this server');
    return p;
  };
  const project = async (req: Request, action: 'member:read' | 'member:manage') => {
    const p = principal(req);
    const id = String(req.params.id);
    await deps.stores.projects.get(p, id); // 404 when absent or not readable
    authorize(p, action, { projectId: id }, () => new NotFoundError('Project', id));
    return id;
  };
  const member = async (pid: string, ref: string) => {
    const m = await a.identity.findMember(pid, ref);
    if (!m) throw new NotFoundError('Member', ref);
    return m;
  };
  const tag = 'auth';
  return [
    {
      method: 'post', path: '/auth/register', tag, open: true, summary: 'Create a user; returns tokens', body: authSchemas.register, ok: [201, 'Login'], errors: [400, 409],
      handler: async (req, res) => {
        const input = parse(authSchemas.register, body(req), 'body');
        const user = await a.identity.register(input.email, input.password, input.name ?? '');
        sendJson(res, 201, { user, ...(await tokens(user.id)) });
      },
    },
    {
      method: 'post', path: '/auth/login', tag, open: true, summary: 'Email + password → access token (JWT) + refresh token', body: authSchemas.login, ok: [200, 'Login'], errors: [400],
      handler: async (req, res) => {
        const input = parse(authSchemas.login, body(req), 'body');
        const user = await a.identity.login(input.email, input.password);
        sendJson(res, 200, { user, ...(await tokens(user.id)) });
      },
    },
    {
      method: 'post', path: '/auth/refresh', tag, open: true, summary: 'Rotate a refresh token (reuse revokes its family)', body: authSchemas.refresh, ok: [200, 'Tokens'], errors: [400],
      handler: async (req, res) => {
        const input = parse(authSchemas.refresh, body(req), 'body');
        const { userId, refreshToken } = await a.identity.rotateRefresh(input.refreshToken, a.refreshTtlSeconds);
        if (!(await a.identity.user(userId))) throw new UnauthorizedError('Invalid refresh token');
        sendJson(res, 200, await tokens(userId, refreshToken));
      },
    },
    // Only the whole token (its secret) revokes its login (item 11); any other input changes nothing.
    {
      method: 'post', path: '/auth/logout', tag, summary: 'Revoke a refresh token family', ok: [200, SuccessSchema],
      handler: async (req, res) => {
        const raw = body(req) as { refreshToken?: unknown };
        if (typeof raw.refreshToken === 'string') await a.identity.revokeRefresh(raw.refreshToken);
        sendJson(res, 200, { success: true });
      },
    },
    {
      method: 'get', path: '/auth/me', tag, summary: 'The caller: user, roles, credential', ok: [200, MeSchema],
      handler: async (req, res) => {
        const p = actor(req);
        const user = await a.identity.user(p.id);
        if (!user) throw new UnauthorizedError();
        sendJson(res, 200, {
          id: user.id,
          email: user.email,
          name: user.name,
          admin: p.admin,
          roles: visibleRoles(p),
          credential: p.kind,
          projectId: p.projectId ?? null,
          sessionId: p.sessionId ?? null,
          readOnly: Boolean(p.readOnly),
        });
      },
    },
    {
      method: 'post', path: '/auth/ws-ticket', tag, summary: 'Single-use ticket (30 s) for a browser WebSocket: connect with ?ticket=', ok: [201, WsTicketSchema],
      handler: async (req, res) => {
        sendJson(res, 201, { ticket: await a.identity.issueTicket(actor(req)), expiresIn: 30 });
      },
    },
    // A key that is not its user's full self sees and revokes only itself (policy `apiKey:manage`).
    {
      method: 'get', path: '/api-keys', tag, summary: "The caller's API keys (no secrets)", ok: [200, 'ApiKey[]'],
      handler: async (req, res) => {
        const p = actor(req);
        sendJson(res, 200, await a.identity.listApiKeys(p, !allows(p, 'apiKey:manage', {})));
      },
    },
    {
      method: 'post', path: '/api-keys', tag, summary: 'Create an API key (shown once), optionally scoped to a project and read-only', body: authSchemas.apiKey, ok: [201, 'NewApiKey'], errors: [400, 404],
      handler: async (req, res) => {
        const p = actor(req);
        authorize(p, 'apiKey:create', {}, () => new NotFoundError('API key', 'new'));
        const input = parse(authSchemas.apiKey, body(req), 'body');
        if (input.projectId && !canRead(p, input.projectId)) throw new NotFoundError('Project', input.projectId);
        const created = await a.identity.createApiKey(p.id, input);
        const { key: _secret, ...replayable } = created;
        sendJson(res, 201, created, replayable);
      },
    },
    {
      method: 'delete', path: '/api-keys/:id', tag, summary: 'Revoke an API key', ok: [200, 'ApiKey'], errors: [404],
      handler: async (req, res) => {
        const p = actor(req);
        const id = String(req.params.id);
        authorize(p, 'apiKey:manage', { keyId: id }, () => new NotFoundError('API key', id));
        sendJson(res, 200, await a.identity.revokeApiKey(p.id, id));
      },
    },
    {
      method: 'get', path: '/projects/:id/members', tag: 'projects', summary: 'Members and pending invitations of a project as {email, role}', ok: [200, 'Member[]'], errors: [404],
      handler: async (req, res) => sendJson(res, 200, await a.identity.members(await project(req, 'member:read'))),
    },
    // By email only, with the same answer whether or not an account has it (item 12).
    {
      method: 'post', path: '/projects/:id/members', tag: 'projects',
      summary: 'Add a member by email (owner only): an account joins at once, an unknown address when it registers; the answer is the same',
      body: authSchemas.member, ok: [201, 'Member'], errors: [400, 404],
      handler: async (req, res) => {
        const pid = await project(req, 'member:manage');
        const input = parse(authSchemas.member, body(req), 'body');
        sendJson(res, 201, await a.identity.invite(pid, input.email, input.role as ProjectRole));
      },
    },
    {
      method: 'patch', path: '/projects/:id/members/:userId', tag: 'projects', summary: "Change a member's or invitation's role by email or user id (owner only)", body: authSchemas.memberRole, ok: [200, 'Member'], errors: [400, 404],
      handler: async (req, res) => {
        const pid = await project(req, 'member:manage');
        const input = parse(authSchemas.memberRole, body(req), 'body');
        const m = await member(pid, String(req.params.userId));
        await a.identity.changeMember(pid, m, input.role);
        sendJson(res, 200, { email: m.email, role: input.role });
      },
    },
    {
      method: 'delete', path: '/projects/:id/members/:userId', tag: 'projects', summary: 'Remove a member or withdraw an invitation, by email or user id (owner only)', ok: [200, MemberRemovedSchema], errors: [404],
      handler: async (req, res) => {
        const pid = await project(req, 'member:manage');
        const m = await member(pid, String(req.params.userId));
        await a.identity.removeMember(pid, m);
        sendJson(res, 200, { success: true, email: m.email });
      },
    },
  ];
}
