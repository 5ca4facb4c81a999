import { describe, expect, it } from 'vitest';
import { decide, POLICY, type Action, type Decision } from '../../src/shared/access/policy.js';
import { LOCAL_ADMIN, type Principal } from '../../src/shared/principal.js';

/**
 * The access policy's table, tested directly (security issue 11, "How": the access matrix also tests
 * the table). Each principal below acts on project P; the expectations are written out by hand, so a
 * change of the table shows up here as well as in the HTTP matrix (access-matrix.test.ts).
 */
const P = 'proj_p';
const user = (roles: Principal['roles'], extra: Partial<Principal> = {}): Principal => ({ id: 'usr_u', kind: 'user', admin: false, roles, ...extra });
const WHO = {
  owner: user({ [P]: 'owner' }),
  editor: user({ [P]: 'editor' }),
  viewer: user({ [P]: 'viewer' }),
  other: user({ proj_other: 'owner' }),
  admin: user({}, { admin: true }),
  adminReadOnly: user({}, { admin: true, kind: 'apiKey', keyId: 'k1', readOnly: true }),
  scopedHere: user({ [P]: 'owner' }, { kind: 'apiKey', keyId: 'k2', projectId: P }),
  scopedOther: user({ [P]: 'owner', proj_other: 'owner' }, { kind: 'apiKey', keyId: 'k3', projectId: 'proj_other' }),
  readOnly: user({ [P]: 'owner' }, { kind: 'apiKey', keyId: 'k4', readOnly: true }),
  sessionKey: user({ [P]: 'owner' }, { kind: 'apiKey', keyId: 'k5', projectId: P, sessionId: 'sess_s' }),
  local: LOCAL_ADMIN,
  // prototype keys are never a membership
  proto: user(JSON.parse('{"constructor":"owner","__proto__":"owner"}')),
} satisfies Record<string, Principal>;
type Who = keyof typeof WHO;
const A: Decision = 'allow';
const N: Decision = 'not_found';
const F: Decision = 'forbidden';

/** Expected decisions on P, in the order of WHO's keys. */
const ORDER = Object.keys(WHO) as Who[];
const row = (...d: Decision[]) => Object.fromEntries(ORDER.map((w, i) => [w, d[i]])) as Record<Who, Decision>;
//                                 owner editor viewer other admin adminRO scopedHere scopedOther readOnly sessionKey local proto
const PROJECT_READ = row(A, A, A, N, A, A, A, N, A, A, A, N);
const PROJECT_WRITE = row(A, A, F, N, A, F, A, N, F, A, A, N);
const PROJECT_OWNER = row(A, F, F, N, A, F, A, N, F, F, A, N);
const EXPECTED: Record<Action, Record<Who, Decision>> = {
  'project:create': row(A, A, A, A, A, F, F, F, F, F, A, A),
  'project:read': PROJECT_READ,
  'project:update': PROJECT_WRITE,
  'project:delete': PROJECT_OWNER,
  'member:read': PROJECT_READ,
  'member:manage': PROJECT_OWNER,
  'task:read': PROJECT_READ,
  'task:write': PROJECT_WRITE,
  'session:read': PROJECT_READ,
  'session:write': PROJECT_WRITE,
  // the target session is the session key's own
  'session:replace': row(A, A, F, N, A, F, A, N, F, F, A, N),
  'session:mintKey': row(A, A, F, N, A, F, A, N, F, F, A, N),
  'queue:read': PROJECT_READ,
  'queue:write': PROJECT_WRITE,
  'manifest:read': PROJECT_READ,
  'spawn:create': PROJECT_WRITE,
  'template:read': row(A, A, A, A, A, A, A, A, A, A, A, A),
  'template:create': row(A, A, A, A, A, F, F, F, F, F, A, A),
  // a custom template created by usr_u
  'template:change': row(A, A, A, A, A, F, F, F, F, F, A, A),
  'skill:read': row(A, A, A, A, A, A, A, A, A, A, A, A),
  'skill:reload': row(F, F, F, F, A, F, F, F, F, F, A, F),
  'apiKey:create': row(A, A, A, A, A, F, F, F, F, F, A, A),
  // listing / revoking key k9 (another key of the user)
  'apiKey:manage': row(A, A, A, A, A, N, N, N, N, N, A, A),
  'ops:read': row(F, F, F, F, A, F, F, F, F, F, A, F),
  // the queue dashboard: global admins only (not a read-only or scoped admin credential)
  'queues:manage': row(F, F, F, F, A, F, F, F, F, F, A, F),
};

describe('the access policy table', () => {
  it('has an expectation for every action, and decides each as written', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(POLICY).sort());
    const wrong: string[] = [];
    for (const action of Object.keys(POLICY) as Action[]) {
      for (const who of ORDER) {
        const got = decide(WHO[who], action, { projectId: P, sessionId: 'sess_s', ownerId: 'usr_u', isDefault: false, keyId: 'k9' }).decision;
        if (got !== EXPECTED[action][who]) wrong.push(`${action} as ${who}: ${got}, expected ${EXPECTED[action][who]}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a default template is changed by admins only; another user\'s custom one by its creator or an admin', () => {
    expect(decide(WHO.owner, 'template:change', { isDefault: true, ownerId: 'system' })).toEqual({ decision: 'forbidden', message: 'Only an admin can change a default template' });
    expect(decide(WHO.admin, 'template:change', { isDefault: true, ownerId: 'system' }).decision).toBe('allow');
    expect(decide(WHO.owner, 'template:change', { isDefault: false, ownerId: 'usr_someone_else' }).decision).toBe('forbidden');
  });

  it('a scoped, read-only or session key sees only itself; it may act on its own key', () => {
    for (const who of ['scopedHere', 'readOnly', 'sessionKey'] as const) {
      expect(decide(WHO[who], 'apiKey:manage', { keyId: WHO[who].keyId }).decision).toBe('allow');
      expect(decide(WHO[who], 'apiKey:manage', {}).decision).toBe('not_found');
    }
  });

  it('"constructor", "__proto__" and other prototype names are projects nobody belongs to (404, not 403)', () => {
    for (const pid of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      for (const who of ['owner', 'editor', 'viewer', 'other'] as const) {
        expect([pid, who, decide(WHO[who], 'task:write', { projectId: pid }).decision]).toEqual([pid, who, 'not_found']);
      }
    }
  });

  it('a session key acting on another session of its project may replace it', () => {
    expect(decide(WHO.sessionKey, 'session:replace', { projectId: P, sessionId: 'sess_other' }).decision).toBe('allow');
  });
});
