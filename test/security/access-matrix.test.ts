import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { listRoutes } from '../../src/api/route-list.js';
import { QueueStore } from '../../src/shared/stores/queue-store.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, type RecordingClient } from '../helpers/ws-client.js';

/**
 * The access matrix of the security issue: EVERY route the app serves (taken from the router, so a
 * new route without a row here fails) × anonymous, another user, viewer, editor, owner, admin, a key
 * scoped to another project, a read-only key.
 */
type Who = 'anonymous' | 'other' | 'viewer' | 'editor' | 'owner' | 'admin' | 'scopedOther' | 'readOnly';
const WHO: Who[] = ['anonymous', 'other', 'viewer', 'editor', 'owner', 'admin', 'scopedOther', 'readOnly'];
type Kind = 'public' | 'self' | 'openRead' | 'globalWrite' | 'projectRead' | 'projectWrite' | 'projectDelete' | 'projectManage';

/** Allowed = not 401/403 and no access 404; denied = the given status. */
const EXPECT: Record<Exclude<Kind, 'public'>, Partial<Record<Who, number>>> = {
  self: { anonymous: 401 },
  openRead: { anonymous: 401 },
  globalWrite: { anonymous: 401, readOnly: 403 },
  projectRead: { anonymous: 401, other: 404, scopedOther: 404 },
  projectWrite: { anonymous: 401, other: 404, scopedOther: 404, viewer: 403, readOnly: 403 },
  projectDelete: { anonymous: 401, other: 404, scopedOther: 404, viewer: 403, readOnly: 403 },
  projectManage: { anonymous: 401, other: 404, scopedOther: 404, viewer: 403, editor: 403, readOnly: 403 },
};

interface World {
  project: string;
  task: string;
  child: string;
  session: string;
  template: string;
  key: string;
}

/** Each route: its kind and, for writes, a valid body (so validation cannot answer before access). */
/** Changing the owner's custom template: its creator (owner) and admins only. */
const TEMPLATE_CHANGE: Partial<Record<Who, number>> = { other: 403, viewer: 403, editor: 403, scopedOther: 403 };

const ROUTES: Record<string, { kind: Kind; body?: (w: World) => unknown; deny?: Partial<Record<Who, number>> }> = {
  'post /auth/register': { kind: 'public' },
  'post /auth/login': { kind: 'public' },
  'post /auth/refresh': { kind: 'public' },
  'post /auth/logout': { kind: 'public' },
  'get /auth/me': { kind: 'self' },
  'post /auth/ws-ticket': { kind: 'self' },
  'get /api-keys': { kind: 'self' },
  // a scoped or read-only key cannot mint keys (it would escape its scope)
  'post /api-keys': { kind: 'self', body: () => ({ name: 'm' }), deny: { scopedOther: 403, readOnly: 403 } },
  // a scoped or read-only key sees and revokes only itself (the owner's other key is not there for it)
  'delete /api-keys/{id}': { kind: 'self', deny: { scopedOther: 404, readOnly: 404 } },
  // the API's document holds no data: anyone may read it (issue 16)
  'get /openapi.json': { kind: 'public' },
  'get /projects': { kind: 'openRead' },
  'get /tasks': { kind: 'openRead' },
  'get /sessions': { kind: 'openRead' },
  'get /templates': { kind: 'openRead' },
  'get /templates/{id}': { kind: 'openRead' },
  'get /templates/role/{role}': { kind: 'openRead' },
  'get /templates/default/{role}': { kind: 'openRead' },
  'get /skills': { kind: 'openRead' },
  'get /skills/{id}': { kind: 'openRead' },
  'get /skills/role/{role}': { kind: 'openRead' },
  // a reload invalidates every replica's cache: admins only
  'post /skills/{id}/reload': { kind: 'openRead', deny: { other: 403, viewer: 403, editor: 403, owner: 403, scopedOther: 403, readOnly: 403 } },
  // a project-scoped key cannot create (and own) other projects
  'post /projects': { kind: 'globalWrite', body: () => ({ name: 'new' }), deny: { scopedOther: 403 } },
  'post /templates': { kind: 'globalWrite', body: () => ({ name: 'n', role: 'worker', content: 'c' }), deny: { scopedOther: 403 } },
  // the matrix's template is the owner's own custom template: its creator and admins may change it
  'put /templates/{id}': { kind: 'globalWrite', body: () => ({ name: 'renamed' }), deny: TEMPLATE_CHANGE },
  'post /templates/{id}/reset': { kind: 'globalWrite', deny: TEMPLATE_CHANGE },
  'delete /templates/{id}': { kind: 'globalWrite', deny: TEMPLATE_CHANGE },
  'get /projects/{id}': { kind: 'projectRead' },
  'get /projects/{id}/members': { kind: 'projectRead' },
  'get /tasks/{id}': { kind: 'projectRead' },
  'get /tasks/{id}/children': { kind: 'projectRead' },
  'get /sessions/{id}': { kind: 'projectRead' },
  'get /sessions/{id}/manifest': { kind: 'projectRead' },
  'get /sessions/{id}/timeline': { kind: 'projectRead' },
  'get /sessions/{id}/events': { kind: 'projectRead' },
  // the session's own key: writers of the project (a session key mints none)
  'post /sessions/{id}/api-key': { kind: 'projectWrite' },
  'get /sessions/{id}/queue': { kind: 'projectRead' },
  'get /sessions/{id}/queue/top': { kind: 'projectRead' },
  'get /sessions/{id}/queue/items': { kind: 'projectRead' },
  'put /projects/{id}': { kind: 'projectWrite', body: () => ({ description: 'd' }) },
  'post /tasks': { kind: 'projectWrite', body: (w) => ({ projectId: w.project, title: 't' }) },
  'patch /tasks/{id}': { kind: 'projectWrite', body: () => ({ title: 'x' }) },
  'post /tasks/{id}/timeline': { kind: 'projectWrite', body: (w) => ({ message: 'm', sessionId: w.session }) },
  'post /sessions': { kind: 'projectWrite', body: (w) => ({ projectId: w.project, taskIds: [w.task] }) },
  'post /sessions/spawn': { kind: 'projectWrite', body: (w) => ({ projectId: w.project, taskIds: [w.task] }) },
  'patch /sessions/{id}': { kind: 'projectWrite', body: () => ({ status: 'working' }) },
  'post /sessions/{id}/events': { kind: 'projectWrite', body: () => ({ type: 'file_modified' }) },
  'post /sessions/{id}/timeline': { kind: 'projectWrite', body: () => ({ message: 'm' }) },
  'post /sessions/{id}/tasks/{taskId}': { kind: 'projectWrite' },
  'post /sessions/{id}/queue/start': { kind: 'projectWrite' },
  'post /sessions/{id}/queue/complete': { kind: 'projectWrite' },
  'post /sessions/{id}/queue/fail': { kind: 'projectWrite', body: () => ({}) },
  'post /sessions/{id}/queue/skip': { kind: 'projectWrite' },
  'post /sessions/{id}/queue/push': { kind: 'projectWrite', body: (w) => ({ taskId: w.child }) },
  // contract 08: the ready list answers [] for a project the caller cannot read (like GET /tasks)
  'get /tasks/ready': { kind: 'openRead' },
  'post /tasks/{id}/dependencies': { kind: 'projectWrite', body: (w) => ({ taskId: w.child }) },
  'delete /tasks/{id}/dependencies/{taskId}': { kind: 'projectWrite' },
  'post /tasks/{id}/claim': { kind: 'projectWrite', body: (w) => ({ sessionId: w.session }) },
  'post /tasks/{id}/claim/renew': { kind: 'projectWrite', body: (w) => ({ sessionId: w.session }) },
  'delete /tasks/{id}/claim': { kind: 'projectWrite' },
  'post /tasks/claim-next': { kind: 'projectWrite', body: (w) => ({ projectId: w.project, sessionId: w.session }) },
  'delete /tasks/{id}': { kind: 'projectDelete' },
  'delete /sessions/{id}': { kind: 'projectDelete' },
  'delete /sessions/{id}/tasks/{taskId}': { kind: 'projectDelete' },
  'delete /projects/{id}': { kind: 'projectManage' },
  'post /projects/{id}/members': { kind: 'projectManage', body: () => ({ email: 'extra@example.com', role: 'viewer' }) },
  'patch /projects/{id}/members/{userId}': { kind: 'projectManage', body: () => ({ role: 'editor' }) },
  'delete /projects/{id}/members/{userId}': { kind: 'projectManage' },
  // the MCP endpoint takes any credential; each tool call is an API request of its own, access-checked
  // by the route it calls (contract 08 "MCP"). Without the MCP Accept header POST is 406; GET/DELETE 405.
  'post /mcp': { kind: 'self' },
  'get /mcp': { kind: 'self' },
  'delete /mcp': { kind: 'self' },
};

let redis: TestRedis;
let h: Harness;
const cred: Partial<Record<Who, Record<string, string>>> = { anonymous: {} };
const ids: Record<string, string> = {};

beforeAll(async () => {
  redis = await startRedis();
  const credentials = join(mkdtempSync(join(tmpdir(), 'matrix-')), 'credentials');
  h = await startHarness(redis.url, { MAESTRO_AUTH: 'required', MAESTRO_CREDENTIALS_FILE: credentials, SPAWN_WAIT_MS: '0', RATE_LIMIT_SPAWN_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0' });
  for (let i = 0; i < 100 && !cred.admin; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      cred.admin = { 'X-API-Key': JSON.parse(readFileSync(credentials, 'utf8')).apiKey };
    } catch {
      /* not written yet */
    }
  }
  for (const who of ['owner', 'editor', 'viewer', 'other'] as const) {
    const r = await h.req('POST', '/api/v1/auth/register', { email: `${who}@example.com`, password: 'a long password' });
    cred[who] = { Authorization: `Bearer ${r.body.accessToken}` };
    ids[who] = r.body.user.id;
  }
  await h.req('POST', '/api/v1/auth/register', { email: 'extra@example.com', password: 'a long password' });
  const other = (await h.req('POST', '/api/v1/projects', { name: 'owner other' }, cred.owner)).body.id;
  cred.scopedOther = { 'X-API-Key': (await h.req('POST', '/api/v1/api-keys', { projectId: other }, cred.owner)).body.key };
  cred.readOnly = { 'X-API-Key': (await h.req('POST', '/api/v1/api-keys', { readOnly: true }, cred.owner)).body.key };
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

/** A project of the owner with a task, a child, a queue session, a template and a key; members added. */
async function world(): Promise<World> {
  const project = (await h.req('POST', '/api/v1/projects', { name: 'w' }, cred.owner)).body.id;
  const task = (await h.req('POST', '/api/v1/tasks', { projectId: project, title: 't' }, cred.owner)).body.id;
  const child = (await h.req('POST', '/api/v1/tasks', { projectId: project, title: 'c', parentId: task }, cred.owner)).body.id;
  const session = (await h.api.deps.stores.sessions.createForSpawn(
    { id: ids.owner!, kind: 'user', admin: false, roles: { [project]: 'owner' } },
    { projectId: project, taskIds: [task], name: 's', strategy: 'queue', metadata: {} },
    (id, now) => QueueStore.initialDoc(id, [task], now),
  )).id;
  await h.req('POST', `/api/v1/projects/${project}/members`, { email: 'editor@example.com', role: 'editor' }, cred.owner);
  await h.req('POST', `/api/v1/projects/${project}/members`, { email: 'viewer@example.com', role: 'viewer' }, cred.owner);
  const template = (await h.req('POST', '/api/v1/templates', { name: 'mine', role: 'worker', content: 'c' }, cred.owner)).body.id;
  const key = (await h.req('POST', '/api/v1/api-keys', { name: 'k' }, cred.owner)).body.id;
  return { project, task, child, session, template, key };
}

function fill(path: string, w: World): string {
  return path
    .replace('/templates/{id}', `/templates/${w.template}`)
    .replace('/api-keys/{id}', `/api-keys/${w.key}`)
    .replace('/tasks/{id}', `/tasks/${w.task}`)
    .replace('/sessions/{id}', `/sessions/${w.session}`)
    .replace('/projects/{id}', `/projects/${w.project}`)
    .replace('{taskId}', w.task)
    .replace('{userId}', ids.viewer!)
    .replace('{role}', 'worker')
    .replace('/skills/{id}', '/skills/none');
}

describe('access matrix', () => {
  it('a default template (every project\'s prompt) is changed by admins only', async () => {
    const def = (await h.req('GET', '/api/v1/templates/role/worker', undefined, cred.owner)).body;
    expect(def.isDefault).toBe(true);
    for (const who of ['owner', 'editor', 'other'] as Who[]) {
      const r = await h.req('PUT', `/api/v1/templates/${def.id}`, { content: 'hijacked' }, cred[who]);
      expect([who, r.status, r.body.message]).toEqual([who, 403, 'Only an admin can change a default template']);
      expect((await h.req('POST', `/api/v1/templates/${def.id}/reset`, undefined, cred[who])).status).toBe(403);
    }
    expect((await h.req('GET', `/api/v1/templates/${def.id}`, undefined, cred.owner)).body.content).not.toBe('hijacked');
    expect((await h.req('PUT', `/api/v1/templates/${def.id}`, { content: 'by an admin' }, cred.admin)).status).toBe(200);
    expect((await h.req('POST', `/api/v1/templates/${def.id}/reset`, undefined, cred.admin)).status).toBe(200);
  });

  it('every route has a row, and every principal gets what its role allows', async () => {
    const served = listRoutes(createApp(h.api.deps))
      .filter((r) => r.path.startsWith('/api/v1/'))
      .map((r) => `${r.method} ${r.path.slice('/api/v1'.length)}`);
    expect([...new Set(served)].filter((r) => !(r in ROUTES))).toEqual([]);
    const shared = await world();
    const failures: string[] = [];
    for (const [route, row] of Object.entries(ROUTES)) {
      if (row.kind === 'public') continue;
      const [method, path] = route.split(' ') as [string, string];
      for (const who of WHO) {
        const destructive = method === 'delete' || row.kind === 'projectManage';
        const w = destructive ? await world() : shared;
        const res = await h.req(method.toUpperCase(), `/api/v1${fill(path, w)}`, row.body?.(w) ?? (method === 'get' || method === 'delete' ? undefined : {}), cred[who]);
        const denied = row.deny?.[who] ?? EXPECT[row.kind][who];
        const manifestMissing = res.status === 404 && String(res.body?.message).startsWith('Manifest');
        const ok = denied !== undefined ? res.status === denied : res.status < 500 && ![401, 403].includes(res.status) && (res.status !== 404 || manifestMissing || row.kind === 'self' || row.kind === 'openRead');
        if (!ok) failures.push(`${route} as ${who}: ${res.status} ${JSON.stringify(res.body).slice(0, 120)} (expected ${denied ?? 'allowed'})`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('WebSocket: a client never receives an event of a project it cannot read', async () => {
    const clients: Partial<Record<Who, RecordingClient>> = {};
    const wsUrl = h.base.replace('http', 'ws') + '/';
    for (const who of WHO) {
      if (who === 'anonymous') {
        await expect(connect(wsUrl)).rejects.toThrow(/401/);
        continue;
      }
      clients[who] = await connect(wsUrl, cred[who]!);
    }
    const w = await world();
    await h.req('PATCH', `/api/v1/tasks/${w.task}`, { title: 'seen by members only' }, cred.owner);
    const mine = (await h.req('POST', '/api/v1/projects', { name: 'other user project' }, cred.other)).body.id;
    await h.req('POST', '/api/v1/tasks', { projectId: mine, title: 'seen by other and admin only' }, cred.other);
    const saw = (who: Who, pid: string) => clients[who]!.events().some((e) => e.projectId === pid);
    // the last event reached its readers (a socket's first moments may hold events for a resume)
    await clients.admin!.until(() => saw('admin', mine));
    await clients.other!.until(() => saw('other', mine));
    await new Promise((r) => setTimeout(r, 100));
    for (const who of ['viewer', 'editor', 'owner', 'admin', 'readOnly'] as Who[]) expect([who, saw(who, w.project)]).toEqual([who, true]);
    for (const who of ['other', 'scopedOther'] as Who[]) expect([who, saw(who, w.project)]).toEqual([who, false]);
    for (const who of ['viewer', 'editor', 'owner', 'scopedOther', 'readOnly'] as Who[]) expect([who, saw(who, mine)]).toEqual([who, false]);
    expect(saw('other', mine)).toBe(true);
    expect(saw('admin', mine)).toBe(true);
    for (const c of Object.values(clients)) await c!.close();
  });
});
