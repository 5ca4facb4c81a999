/** A member's role in a project (contract 00 "Identity and access"). */
export type ProjectRole = 'owner' | 'editor' | 'viewer';

/**
 * Who is acting: a user (access token), one of a user's API keys (maybe scoped), or the local admin
 * (MAESTRO_AUTH=disabled). Every store call and every WebSocket decision receives one, and every
 * decision about it is made by `access/policy.ts` (DESIGN.md "Cross-cutting: Auth").
 */
export interface Principal {
  /** The user's id (`usr_…`), or `local-admin`: ownership and per-user caps are keyed by it. */
  id: string;
  kind: 'user' | 'apiKey' | 'local';
  /** A global admin: sees and changes everything. False for any project-scoped credential. */
  admin: boolean;
  /** API keys: the key's id (`mk_<id>.…`); idempotency records and revocation are per key. */
  keyId?: string;
  /** API keys may be limited to one project … */
  projectId?: string;
  /** … to one session of it (a session key: at most `editor` there, mints no keys) … */
  sessionId?: string;
  /** … and to reading. */
  readOnly?: boolean;
  /** Project roles (projectId → role); a scoped key of an admin holds `owner` in its project. */
  roles?: Record<string, ProjectRole>;
}

/** The one local admin that acts for every request while authentication is disabled (contract 00). */
export const LOCAL_ADMIN: Principal = Object.freeze({ id: 'local-admin', kind: 'local', admin: true });

/**
 * The namespace of a principal's idempotency records (contract 00 "Concurrency and retries": records
 * are per principal and scope): one per API key (`k:<keyId>`), one per user's tokens (`u:<userId>`).
 */
export function credentialScope(p: Principal): string {
  return p.kind === 'apiKey' && p.keyId ? `k:${p.keyId}` : `u:${p.id}`;
}
