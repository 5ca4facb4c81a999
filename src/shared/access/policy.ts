import { ForbiddenError } from '../errors.js';
import type { Principal, ProjectRole } from '../principal.js';

/**
 * The one access policy of Maestro (contract 00 "Identity and access", "Tenancy limits"; security
 * issue 11): every store, route and the WebSocket gateway asks it, so the rules live here and nowhere
 * else. A decision is `allow`, `not_found` (the caller may not even know the thing exists: ids cannot
 * be probed) or `forbidden` (it may see it but not do this).
 */
export type Decision = 'allow' | 'not_found' | 'forbidden';

/** What an action is about. Project-scoped resources name their project. */
export interface AccessTarget {
  /** The project of a project, task, session, queue, manifest or membership. */
  projectId?: string;
  /** The session acted on (replace, key minting). */
  sessionId?: string;
  /** Templates: the creator's user id. */
  ownerId?: string;
  /** Templates: a default template (every project's prompt). */
  isDefault?: boolean;
  /** API keys: the key acted on. */
  keyId?: string;
}

/** Outcome of `decide`: the decision and, when denied with 403, the message for the envelope. */
export interface Verdict {
  decision: Decision;
  message?: string;
}

const RANK: Record<ProjectRole, number> = { viewer: 1, editor: 2, owner: 3 };
const VALID_ROLES = new Set<string>(['viewer', 'editor', 'owner']);

/**
 * The role `p` holds in project `projectId`, after its credential's scope: undefined outside a scoped
 * key's project or without membership; a global admin holds `owner` everywhere; a session key holds
 * at most `editor` (an agent never manages members or deletes its project). Membership maps are read
 * with own-property checks, so `constructor` or `__proto__` is never a project anyone belongs to.
 */
export function roleIn(p: Principal, projectId: string): ProjectRole | undefined {
  if (p.projectId !== undefined && p.projectId !== projectId) return undefined;
  let role: ProjectRole | undefined;
  if (p.admin) role = 'owner';
  else if (p.roles && Object.hasOwn(p.roles, projectId) && VALID_ROLES.has(p.roles[projectId]!)) role = p.roles[projectId];
  if (role && p.sessionId !== undefined && RANK[role] > RANK.editor) role = 'editor';
  return role;
}

/** True for a credential that acts beyond one project and may write (not read-only, not scoped). */
function unscopedWriter(p: Principal): boolean {
  return p.projectId === undefined && p.sessionId === undefined && !p.readOnly;
}

/** A project-scoped rule: readable with any role, else `not_found`; the action needs `role` (+ write). */
interface ProjectRule {
  kind: 'project';
  role: ProjectRole;
  write: boolean;
  message: string;
  /** An extra refusal (403 with this message) for a caller that has the role. */
  extra?: (p: Principal, t: AccessTarget) => string | undefined;
}
/** A rule outside projects: any authenticated caller, an unscoped writer, or a global admin. */
interface GlobalRule {
  kind: 'global';
  need: 'authenticated' | 'unscopedWriter' | 'admin';
  message: string;
}
interface CustomRule {
  kind: 'custom';
  decide: (p: Principal, t: AccessTarget) => Verdict;
}
type Rule = ProjectRule | GlobalRule | CustomRule;

const project = (role: ProjectRole, write: boolean, message: string, extra?: ProjectRule['extra']): ProjectRule => ({ kind: 'project', role, write, message, extra });
const global = (need: GlobalRule['need'], message: string): GlobalRule => ({ kind: 'global', need, message });
const READ = 'Not allowed to read this project';
const WRITE = 'Not allowed to change this project';

/**
 * Keys of a credential that is not its user's full self (scoped, read-only or a session key) see and
 * manage only themselves (contract 00 "Tenancy limits"); a user's own tokens see all of the user's.
 */
function ownKeysOnly(p: Principal): boolean {
  return p.kind === 'apiKey' && (p.projectId !== undefined || p.sessionId !== undefined || Boolean(p.readOnly));
}

/** The table: every action Maestro authorises, and the rule that decides it. */
export const POLICY = {
  'project:create': global('unscopedWriter', 'This credential cannot create projects'),
  'project:read': project('viewer', false, READ),
  'project:update': project('editor', true, WRITE),
  'project:delete': project('owner', true, 'Only the project owner can delete it'),
  'member:read': project('viewer', false, READ),
  'member:manage': project('owner', true, 'Only the project owner can manage members'),
  'task:read': project('viewer', false, READ),
  'task:write': project('editor', true, WRITE),
  'session:read': project('viewer', false, READ),
  'session:write': project('editor', true, WRITE),
  /** Replacing a session by `POST /sessions` with its id: never by that session's own key (item 6). */
  'session:replace': project('editor', true, WRITE, (p, t) => (p.sessionId !== undefined && p.sessionId === t.sessionId ? 'A session key cannot replace its own session' : undefined)),
  /** `POST /sessions/:id/api-key`: a writer of the project, not a session key (keys do not breed). */
  'session:mintKey': project('editor', true, WRITE, (p) => (p.sessionId !== undefined ? 'A session key cannot mint keys' : undefined)),
  'queue:read': project('viewer', false, READ),
  'queue:write': project('editor', true, WRITE),
  'manifest:read': project('viewer', false, READ),
  'spawn:create': project('editor', true, 'Not allowed to spawn in this project'),
  'template:read': global('authenticated', ''),
  'template:create': global('unscopedWriter', 'A project-scoped, session or read-only credential cannot change templates'),
  /** A template: admins; its creator for a custom one; never a scoped or read-only credential. */
  'template:change': {
    kind: 'custom',
    decide: (p, t) => {
      if (!unscopedWriter(p)) return { decision: 'forbidden', message: 'A project-scoped, session or read-only credential cannot change templates' };
      if (p.admin) return { decision: 'allow' };
      if (t.isDefault) return { decision: 'forbidden', message: 'Only an admin can change a default template' };
      if (t.ownerId !== p.id) return { decision: 'forbidden', message: 'Only an admin or the creator of a template can change it' };
      return { decision: 'allow' };
    },
  },
  'skill:read': global('authenticated', ''),
  /** Reloading a skill invalidates every replica's cache: admins only (item 20). */
  'skill:reload': global('admin', 'Only an admin can reload skills'),
  'apiKey:create': global('unscopedWriter', 'A scoped, session or read-only API key cannot create API keys'),
  /** Listing or revoking key `keyId`: the user's full credentials see all; other keys only themselves. */
  'apiKey:manage': {
    kind: 'custom',
    decide: (p, t) => (!ownKeysOnly(p) || (t.keyId !== undefined && t.keyId === p.keyId) ? { decision: 'allow' } : { decision: 'not_found' }),
  },
  /** `/metrics`, `/health?deep=1`, `/ws-status` on the API port (item 18; or METRICS_TOKEN). */
  'ops:read': global('admin', 'Only an admin or the metrics token can read operational endpoints'),
  /** The queue dashboard `/admin/queues` (issue 16): its jobs and its retry/clean actions; not the metrics token. */
  'queues:manage': global('admin', 'Only an admin can use the queue dashboard'),
} satisfies Record<string, Rule>;

/** Every action the policy knows. */
export type Action = keyof typeof POLICY;

/** Decides `action` on `target` for `p` (pure: no I/O). See the table above for each rule. */
export function decide(p: Principal, action: Action, target: AccessTarget = {}): Verdict {
  const rule: Rule = POLICY[action];
  if (rule.kind === 'custom') return rule.decide(p, target);
  if (rule.kind === 'global') {
    const ok = rule.need === 'authenticated' || (rule.need === 'unscopedWriter' ? unscopedWriter(p) : p.admin && unscopedWriter(p));
    return ok ? { decision: 'allow' } : { decision: 'forbidden', message: rule.message };
  }
  const role = target.projectId === undefined ? undefined : roleIn(p, target.projectId);
  if (!role) return { decision: 'not_found' };
  if (rule.write && p.readOnly) return { decision: 'forbidden', message: 'Read-only credential' };
  if (RANK[role] < RANK[rule.role]) return { decision: 'forbidden', message: rule.message };
  const extra = rule.extra?.(p, target);
  return extra ? { decision: 'forbidden', message: extra } : { decision: 'allow' };
}

/** True when `decide` allows. */
export function allows(p: Principal, action: Action, target: AccessTarget = {}): boolean {
  return decide(p, action, target).decision === 'allow';
}

/** May `p` read project `projectId` (and what it holds)? Lists and the WebSocket gateway filter by it. */
export function canRead(p: Principal, projectId: string): boolean {
  return roleIn(p, projectId) !== undefined;
}

/**
 * Throws unless allowed: `notFound()` for `not_found` (e.g. NotFoundError('Task', id)), ForbiddenError
 * (403, the rule's message) for `forbidden`. A project-scoped target without a project id is
 * `not_found` (the thing does not exist). Contract 00: another user's entity answers 404, not 403.
 */
export function authorize(p: Principal, action: Action, target: AccessTarget, notFound: () => Error): void {
  const v = decide(p, action, target);
  if (v.decision === 'not_found') throw notFound();
  if (v.decision === 'forbidden') throw new ForbiddenError(v.message);
}

/**
 * `authorize` for a project-scoped action on a thing whose project may be unknown (`undefined`: the
 * thing does not exist → `notFound()`). Narrows `projectId` to a string for the caller.
 */
export function authorizeIn(p: Principal, action: Action, projectId: string | undefined, notFound: () => Error): asserts projectId is string {
  if (projectId === undefined) throw notFound();
  authorize(p, action, { projectId }, notFound);
}

/**
 * The project roles a credential may show (`GET /auth/me`): a project-scoped key only its project's
 * (contract 00 "Tenancy limits": nothing outside its scope).
 */
export function visibleRoles(p: Principal): Record<string, ProjectRole> {
  const out: Record<string, ProjectRole> = {};
  for (const [pid, role] of Object.entries(p.roles ?? {})) {
    if (p.projectId === undefined || p.projectId === pid) out[pid] = roleIn(p, pid) ?? role;
  }
  return out;
}
