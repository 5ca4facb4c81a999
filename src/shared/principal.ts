import { ForbiddenError } from './errors.js';

/**
 * The acting principal of every store call (DESIGN.md "Cross-cutting: Auth"). Until the security
 * issue fills the seam in, every request acts as LOCAL_ADMIN.
 */
/** A member's role in a project (contract 00 "Identity and access"). */
export type ProjectRole = 'owner' | 'editor' | 'viewer';

/** Who is acting: a user (token), a user's API key (maybe scoped), or the local admin. */
export interface Principal {
  /** Stable id used for ownership and idempotency records (`usr_…`, or `local-admin`). */
  id: string;
  kind: 'user' | 'apiKey' | 'local';
  /** Admins see and change everything (contract 00). */
  admin: boolean;
  /** API keys may be limited to one project … */
  projectId?: string;
  /** … and to reading. */
  readOnly?: boolean;
  /** Project roles of a user (projectId → role); admins need none. */
  roles?: Record<string, ProjectRole>;
}

/** The one local admin that acts for every request while authentication is not enforced. */
export const LOCAL_ADMIN: Principal = Object.freeze({ id: 'local-admin', kind: 'local', admin: true });

/**
 * May `principal` read project `projectId`? Contract 00: tasks, sessions, queues and manifests inherit
 * access from their project; admins read everything; an API key may be limited to one project.
 */
export function canRead(principal: Principal, projectId: string): boolean {
  if (principal.projectId && principal.projectId !== projectId) return false;
  return principal.admin || principal.roles?.[projectId] !== undefined;
}

/** May `principal` change project `projectId` and what it holds? Owners and editors (and admins). */
export function canWrite(principal: Principal, projectId: string): boolean {
  if (!canRead(principal, projectId) || principal.readOnly) return false;
  if (principal.admin) return true;
  const role = principal.roles?.[projectId];
  return role === 'owner' || role === 'editor';
}

/** May `principal` delete project `projectId` or manage its members? Owners (and admins). */
export function canManage(principal: Principal, projectId: string): boolean {
  return canWrite(principal, projectId) && (principal.admin || principal.roles?.[projectId] === 'owner');
}

/**
 * Guard of every write: a project the principal cannot read is "not found" (ids cannot be probed);
 * one it can read but not change is 403 FORBIDDEN (contract 00 "Identity and access").
 */
export function assertCanWrite(principal: Principal, projectId: string | undefined, notFound: () => Error): asserts projectId is string {
  if (!projectId || !canRead(principal, projectId)) throw notFound();
  if (!canWrite(principal, projectId)) throw new ForbiddenError(principal.readOnly ? 'Read-only credential' : 'Not allowed to change this project');
}
