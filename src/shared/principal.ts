/**
 * The acting principal of every store call (DESIGN.md "Cross-cutting: Auth"). Until the security
 * issue fills the seam in, every request acts as LOCAL_ADMIN.
 */
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
}

/** The one local admin that acts for every request while authentication is not enforced. */
export const LOCAL_ADMIN: Principal = Object.freeze({ id: 'local-admin', kind: 'local', admin: true });

/**
 * Access seam: may `principal` read project `projectId`? Contract 00: tasks, sessions, queues and
 * manifests inherit access from their project. Today: admins (incl. the local admin) read everything.
 */
export function canRead(principal: Principal, projectId: string): boolean {
  if (principal.projectId && principal.projectId !== projectId) return false;
  return principal.admin;
}

/** Access seam: may `principal` change project `projectId` (and what it holds)? */
export function canWrite(principal: Principal, projectId: string): boolean {
  return canRead(principal, projectId) && !principal.readOnly;
}
