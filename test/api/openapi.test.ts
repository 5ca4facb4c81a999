import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { listRoutes } from '../../src/api/route-list.js';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { responseValidators, type OpenApiDoc } from '../helpers/openapi-conformance.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

type Doc = OpenApiDoc;
type Schema = Record<string, any>;

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document whose operations are exactly the routes the app serves, every one mounted from the route table', async () => {
    const r = await h.req('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, methods] of Object.entries(r.body.paths as Record<string, Record<string, unknown>>)) {
      for (const m of Object.keys(methods)) documented.add(`${m} ${path}`);
    }
    const routes = listRoutes(createApp(h.api.deps));
    expect(routes.filter((x) => !x.fromTable)).toEqual([]);
    const served = new Set(routes.filter((x) => !x.path.startsWith('/api/') || x.path.startsWith('/api/v1/')).map((x) => `${x.method} ${x.path}`));
    expect([...served].filter((x) => !documented.has(x))).toEqual([]);
    expect([...documented].filter((x) => !served.has(x))).toEqual([]);
  });

  it('serves /api as an alias of every /api/v1 route', () => {
    const routes = listRoutes(createApp(h.api.deps)).map((x) => `${x.method} ${x.path}`);
    const v1 = routes.filter((x) => x.includes(' /api/v1/')).map((x) => x.replace(' /api/v1/', ' /api/'));
    const alias = routes.filter((x) => / \/api\/(?!v1\/)/.test(x));
    expect(alias.sort()).toEqual(v1.sort());
  });

  it('documents request bodies from the zod schemas, with the contract field names', async () => {
    const r = await h.req('GET', '/api/openapi.json');
    const body = r.body.paths['/api/v1/tasks'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['projectId', 'title', 'parentId', 'priority']));
    expect(r.body.components.schemas.Task.properties.status.enum).toEqual(['todo', 'in_progress', 'completed', 'cancelled', 'blocked']);
  });

  it('types every JSON success response: an object with properties, or an array of such objects (no untyped record or unknown)', async () => {
    const doc = (await h.req('GET', '/api/v1/openapi.json')).body as Doc;
    const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[String(s.$ref).replace('#/components/schemas/', '')] : s);
    const typedObject = (raw: Schema): boolean => {
      const s = resolve(raw);
      if (s.anyOf || s.oneOf) return (s.anyOf ?? s.oneOf).every(typedObject);
      return s.type === 'object' && Object.keys(s.properties ?? {}).length > 0 && s.additionalProperties === false;
    };
    const untyped: string[] = [];
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        for (const [status, res] of Object.entries(op.responses as Record<string, any>)) {
          if (Number(status) >= 400) continue;
          const json = res.content?.['application/json']?.schema as Schema | undefined;
          if (!json) {
            // only the text answers (Prometheus metrics, the HTML page) have no JSON schema
            expect([`${method} ${path}`, Object.keys(res.content)]).toEqual([`${method} ${path}`, [expect.stringMatching(/^text\//)]]);
            continue;
          }
          checked++;
          const s = resolve(json);
          if (!(s.type === 'array' ? typedObject(s.items) : typedObject(s))) untyped.push(`${method} ${path} ${status}`);
        }
      }
    }
    expect(untyped).toEqual([]);
    expect(checked).toBeGreaterThan(60);
  });

  it('requires a bearer token or an API key everywhere except on the open operations', async () => {
    const doc = (await h.req('GET', '/api/v1/openapi.json')).body as Doc;
    expect(doc.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    const open = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).filter(([, op]) => Array.isArray(op.security) && op.security.length === 0).map(([m]) => `${m} ${path}`));
    expect(open.sort()).toEqual(['get /api/v1/openapi.json', 'get /docs', 'get /docs/openapi.json', 'get /health', 'get /ready', 'post /api/v1/auth/login', 'post /api/v1/auth/refresh', 'post /api/v1/auth/register']);
  });
});

describe('the documented response schemas match what the API sends', () => {
  let w: AuthWorld;
  let doc: Doc;
  let validatorOf: ReturnType<typeof responseValidators>['validatorOf'];
  let errorsText: ReturnType<typeof responseValidators>['errorsText'];

  beforeAll(async () => {
    w = await startAuthWorld(h.testRedis.url);
    doc = (await w.h.req('GET', '/api/v1/openapi.json', undefined, as(w.adminKey))).body as Doc;
    ({ validatorOf, errorsText } = responseValidators(doc));
  }, 60_000);
  afterAll(() => w?.h.close());

  const failures: string[] = [];
  let conformed = 0;
  /** Checks the real answer `r` to `method path` against the documented schema of its status. */
  const conform = <R extends { status: number; body: any }>(method: string, path: string, r: R): R => {
    const validate = validatorOf(method, path, r.status);
    conformed++;
    if (!validate(r.body)) failures.push(`${method} ${path} ${r.status}: ${errorsText(validate)} in ${JSON.stringify(r.body).slice(0, 300)}`);
    return r;
  };

  it('for auth, keys, members, projects, tasks, sessions, their event pages, queues, spawn, MCP, health and ws-status', async () => {
    const admin = as(w.adminKey);
    const v1 = '/api/v1';
    const email = 'conform@example.com';
    const password = 'correct horse battery';
    const reg = conform('post', `${v1}/auth/register`, await w.h.req('POST', `${v1}/auth/register`, { email, password, name: 'Conform' }));
    expect(reg.status).toBe(201);
    const login = conform('post', `${v1}/auth/login`, await w.h.req('POST', `${v1}/auth/login`, { email, password }));
    conform('post', `${v1}/auth/refresh`, await w.h.req('POST', `${v1}/auth/refresh`, { refreshToken: login.body.refreshToken }));
    const user = as(login.body.accessToken);
    conform('get', `${v1}/auth/me`, await w.h.req('GET', `${v1}/auth/me`, undefined, user));
    conform('post', `${v1}/auth/ws-ticket`, await w.h.req('POST', `${v1}/auth/ws-ticket`, undefined, user));

    const project = conform('post', `${v1}/projects`, await w.h.req('POST', `${v1}/projects`, { name: 'conformance' }, user)).body;
    conform('get', `${v1}/projects/{id}`, await w.h.req('GET', `${v1}/projects/${project.id}`, undefined, user));
    const key = conform('post', `${v1}/api-keys`, await w.h.req('POST', `${v1}/api-keys`, { name: 'scoped', projectId: project.id, readOnly: true }, user));
    expect(key.status).toBe(201);
    conform('get', `${v1}/api-keys`, await w.h.req('GET', `${v1}/api-keys`, undefined, user));
    conform('get', `${v1}/auth/me`, await w.h.req('GET', `${v1}/auth/me`, undefined, as(key.body.key)));
    conform('delete', `${v1}/api-keys/{id}`, await w.h.req('DELETE', `${v1}/api-keys/${key.body.id}`, undefined, user));
    conform('post', `${v1}/projects/{id}/members`, await w.h.req('POST', `${v1}/projects/${project.id}/members`, { email: 'later@example.com', role: 'viewer' }, user));
    conform('get', `${v1}/projects/{id}/members`, await w.h.req('GET', `${v1}/projects/${project.id}/members`, undefined, user));

    const task = conform('post', `${v1}/tasks`, await w.h.req('POST', `${v1}/tasks`, { projectId: project.id, title: 'conform', priority: 'high' }, user)).body;
    const second = (await w.h.req('POST', `${v1}/tasks`, { projectId: project.id, title: 'second' }, user)).body;
    conform('get', `${v1}/tasks/{id}`, await w.h.req('GET', `${v1}/tasks/${task.id}`, undefined, user));
    conform('get', `${v1}/tasks`, await w.h.req('GET', `${v1}/tasks?projectId=${project.id}`, undefined, user));
    conform('post', `${v1}/tasks/{id}/dependencies`, await w.h.req('POST', `${v1}/tasks/${second.id}/dependencies`, { taskId: task.id }, user));
    conform('get', `${v1}/tasks/ready`, await w.h.req('GET', `${v1}/tasks/ready?projectId=${project.id}`, undefined, user));

    const session = conform('post', `${v1}/sessions`, await w.h.req('POST', `${v1}/sessions`, { projectId: project.id, taskIds: [task.id] }, user)).body;
    conform('post', `${v1}/sessions/{id}/events`, await w.h.req('POST', `${v1}/sessions/${session.id}/events`, { type: 'note', data: { n: 1 } }, user));
    conform('post', `${v1}/sessions/{id}/timeline`, await w.h.req('POST', `${v1}/sessions/${session.id}/timeline`, { type: 'progress', message: 'half way', taskId: task.id }, user));
    conform('post', `${v1}/tasks/{id}/timeline`, await w.h.req('POST', `${v1}/tasks/${task.id}/timeline`, { sessionId: session.id, message: 'on the task' }, user));
    conform('get', `${v1}/sessions/{id}`, await w.h.req('GET', `${v1}/sessions/${session.id}`, undefined, user));
    conform('get', `/api/v1/sessions`, await w.h.req('GET', `${v1}/sessions?projectId=${project.id}`, undefined, user));
    const events = conform('get', `${v1}/sessions/{id}/events`, await w.h.req('GET', `${v1}/sessions/${session.id}/events?limit=10`, undefined, user));
    const timeline = conform('get', `${v1}/sessions/{id}/timeline`, await w.h.req('GET', `${v1}/sessions/${session.id}/timeline?limit=10`, undefined, user));
    expect([events.body.length > 0, timeline.body.length > 0]).toEqual([true, true]);
    conform('post', `${v1}/sessions/{id}/api-key`, await w.h.req('POST', `${v1}/sessions/${session.id}/api-key`, undefined, user));
    conform('post', `${v1}/tasks/{id}/claim`, await w.h.req('POST', `${v1}/tasks/${task.id}/claim`, { sessionId: session.id }, user));

    const queued = (await w.h.req('POST', `${v1}/sessions`, { projectId: project.id, taskIds: [], strategy: 'queue' }, user)).body;
    const q = `${v1}/sessions/${queued.id}/queue`;
    conform('post', `${v1}/sessions/{id}/queue/push`, await w.h.req('POST', `${q}/push`, { taskId: task.id }, user));
    conform('post', `${v1}/sessions/{id}/queue/push`, await w.h.req('POST', `${q}/push`, { taskId: second.id }, user));
    conform('get', `${v1}/sessions/{id}/queue`, await w.h.req('GET', q, undefined, user));
    conform('get', `${v1}/sessions/{id}/queue/top`, await w.h.req('GET', `${q}/top`, undefined, user));
    conform('post', `${v1}/sessions/{id}/queue/start`, await w.h.req('POST', `${q}/start`, undefined, user));
    conform('post', `${v1}/sessions/{id}/queue/complete`, await w.h.req('POST', `${q}/complete`, undefined, user));
    conform('post', `${v1}/sessions/{id}/queue/skip`, await w.h.req('POST', `${q}/skip`, undefined, user));
    conform('get', `${v1}/sessions/{id}/queue/items`, await w.h.req('GET', `${q}/items`, undefined, user));
    conform('get', `${v1}/sessions/{id}/queue/top`, await w.h.req('GET', `${q}/top`, undefined, user));
    conform('post', `${v1}/sessions/{id}/queue/start`, await w.h.req('POST', `${q}/start`, undefined, user));

    const spawned = conform('post', `${v1}/sessions/spawn`, await w.h.req('POST', `${v1}/sessions/spawn`, { projectId: project.id, taskIds: [second.id] }, { ...user, Prefer: 'respond-async' }));
    expect(spawned.status).toBe(202);

    const mcp = { ...user, accept: 'application/json, text/event-stream' };
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'conform', version: '1' } } };
    conform('post', `${v1}/mcp`, await w.h.req('POST', `${v1}/mcp`, init, mcp));
    conform('post', `${v1}/mcp`, await w.h.req('POST', `${v1}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, mcp));
    conform('get', `${v1}/mcp`, await w.h.req('GET', `${v1}/mcp`, undefined, user));

    conform('get', `${v1}/templates/default/{role}`, await w.h.req('GET', `${v1}/templates/default/worker`, undefined, user));
    conform('get', `${v1}/templates`, await w.h.req('GET', `${v1}/templates`, undefined, user));
    conform('get', `${v1}/skills`, await w.h.req('GET', `${v1}/skills`, undefined, user));
    conform('get', `${v1}/openapi.json`, await w.h.req('GET', `${v1}/openapi.json`, undefined, user));
    conform('delete', `${v1}/sessions/{id}`, await w.h.req('DELETE', `${v1}/sessions/${queued.id}`, undefined, user));
    conform('post', `${v1}/auth/logout`, await w.h.req('POST', `${v1}/auth/logout`, { refreshToken: 'nothing' }, user));

    conform('get', '/health', await w.h.req('GET', '/health'));
    conform('get', '/health', await w.h.req('GET', '/health?deep=1', undefined, admin));
    conform('get', '/ready', await w.h.req('GET', '/ready'));
    const ws = conform('get', '/ws-status', await w.h.req('GET', '/ws-status', undefined, admin));
    expect(ws.body.nodeId).toEqual(expect.any(String));

    expect(failures).toEqual([]);
    expect(conformed).toBeGreaterThan(50);
  }, 60_000);

  it('a body with a field the document does not name fails, so a schema that falls behind the API fails the test above', async () => {
    const task = (await w.h.req('GET', '/api/v1/tasks?limit=1', undefined, as(w.adminKey))).body[0];
    const validate = validatorOf('get', '/api/v1/tasks/{id}', 200);
    expect(validate(task)).toBe(true);
    expect(validate({ ...task, undocumented: 1 })).toBe(false);
    const { title: _title, ...withoutTitle } = task;
    expect(validate(withoutTitle)).toBe(false);
  });

  it('open operations answer without a credential; every other one is 401 UNAUTHORIZED without one', async () => {
    const wrong: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'role' ? 'worker' : 'none'));
        const r = await w.h.req(method.toUpperCase(), url, method === 'get' || method === 'delete' ? undefined : {});
        const open = Array.isArray(op.security) && op.security.length === 0;
        if (open === (r.status === 401)) wrong.push(`${method} ${path}: ${r.status} (${open ? 'documented open' : 'documented as needing a credential'})`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
