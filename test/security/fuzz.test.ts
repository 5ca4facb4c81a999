import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { listRoutes } from '../../src/api/route-list.js';
import { LOCAL_ADMIN } from '../../src/shared/principal.js';
import { QueueStore } from '../../src/shared/stores/queue-store.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness({ SPAWN_WAIT_MS: '0', RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0', RATE_LIMIT_SPAWN_PER_MINUTE: '0' });
const ids: Record<string, string> = {};
const LEAK = /\bat [\w.<>]+ \(|\.(ts|js):\d+|ReplyError|WRONGTYPE|ERR |NOSCRIPT|node_modules|\/work\/|\/tmp\//;

beforeAll(async () => {
  ids.project = (await h.req('POST', '/api/v1/projects', { name: 'fuzz' })).body.id;
  ids.task = (await h.req('POST', '/api/v1/tasks', { projectId: ids.project, title: 't' })).body.id;
  const s = await h.api.deps.stores.sessions.createForSpawn(LOCAL_ADMIN, { projectId: ids.project!, taskIds: [ids.task!], name: 'q', strategy: 'queue', metadata: {} }, (id, now) =>
    QueueStore.initialDoc(id, [ids.task!], now),
  );
  ids.session = s.id;
  ids.template = (await h.req('POST', '/api/v1/templates', { name: 'n', role: 'worker', content: 'c' })).body.id;
});

/** Fills a route's path parameters with the ids of real entities. */
function fill(path: string): string {
  return path
    .replace('{id}', path.includes('/templates') ? ids.template! : path.includes('/tasks/{id}') ? ids.task! : path.includes('/sessions') ? ids.session! : ids.project!)
    .replace('{taskId}', ids.task!)
    .replace('{role}', 'worker')
    .replace('{userId}', 'usr_x');
}

/** A fingerprint of the stored state the fuzzed requests could touch. */
async function state(): Promise<string> {
  const [events, p, t, s, q, tpl] = await Promise.all([
    h.redis.xlen(`${h.prefix}{${ids.project}}:events`),
    h.req('GET', `/api/v1/projects/${ids.project}`),
    h.req('GET', `/api/v1/tasks/${ids.task}`),
    h.req('GET', `/api/v1/sessions/${ids.session}`),
    h.req('GET', `/api/v1/sessions/${ids.session}/queue`),
    h.req('GET', `/api/v1/templates/${ids.template}`),
  ]);
  return JSON.stringify([events, p.body, t.body, s.body, q.body, tpl.body]);
}

describe('property-based fuzzing of bodies and queries', () => {
  it('no body on any POST/PUT/PATCH route gives a 5xx, a leaked internal, or (on a 4xx) a state change', async () => {
    const routes = listRoutes(createApp(h.api.deps)).filter((r) => ['post', 'put', 'patch'].includes(r.method) && r.path.startsWith('/api/v1/'));
    expect(routes.length).toBeGreaterThan(20);
    const bodies = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.dictionary(fc.constantFrom('name', 'title', 'projectId', 'taskIds', 'status', 'env', 'metadata', 'message', 'type', 'sessionId', 'role', 'content', 'reason', 'taskId', 'priority', 'parentId', 'timeline', 'events', 'strategy', 'spawnSource', 'skills', 'context', 'email', 'password', 'refreshToken', 'userId'), fc.anything({ maxDepth: 2 })),
    );
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(bodies, async (b) => {
          const before = await state();
          const r = await h.req(route.method.toUpperCase(), fill(route.path), JSON.stringify(b ?? null));
          const text = JSON.stringify(r.body ?? '');
          if (r.status >= 500) throw new Error(`${route.method} ${route.path} → ${r.status} ${text} for ${JSON.stringify(b)}`);
          if (LEAK.test(text)) throw new Error(`${route.method} ${route.path} leaked: ${text}`);
          if (r.status >= 400 && (await state()) !== before) throw new Error(`${route.method} ${route.path} changed state on ${r.status} for ${JSON.stringify(b)}`);
        }),
        { numRuns: 15 },
      );
    }
  }, 120_000);

  it('no body nested deep, and no string with a lone surrogate, gives a 5xx or a state change on any POST/PUT/PATCH route', async () => {
    const routes = listRoutes(createApp(h.api.deps)).filter((r) => ['post', 'put', 'patch'].includes(r.method) && r.path.startsWith('/api/v1/'));
    const lone = fc.constantFrom('\\ud800', '\\udbff', '\\udc00', '\\udfff', '\\ud83dx', 'x\\ude00');
    const field = fc.constantFrom('name', 'title', 'projectId', 'id', 'message', 'type', 'content', 'sessionId', 'taskId', 'email', 'reason');
    const bodies = fc.oneof(
      // deep nesting, as a value of a known field or as the whole body
      fc.tuple(field, fc.integer({ min: 65, max: 20_000 }), fc.constantFrom('[', '{"a":')).map(([f, depth, open]) => {
        const close = open === '[' ? ']' : '}';
        return `{"${f}":${open.repeat(depth)}1${close.repeat(depth)}}`;
      }),
      fc.integer({ min: 65, max: 50_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
      // a lone surrogate escape in a known string field, next to valid fields
      fc.tuple(field, lone).map(([f, s]) => `{"projectId":"${ids.project}","taskIds":["${ids.task}"],"title":"t","message":"m","${f}":"v${s}"}`),
    );
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(bodies, async (b) => {
          const before = await state();
          const r = await h.req(route.method.toUpperCase(), fill(route.path), b);
          if (r.status >= 500) throw new Error(`${route.method} ${route.path} → ${r.status} ${JSON.stringify(r.body)} for ${b.slice(0, 120)}`);
          if (r.status >= 400 && (await state()) !== before) throw new Error(`${route.method} ${route.path} changed state on ${r.status} for ${b.slice(0, 120)}`);
          if (b.includes('\\u')) expect([route.path, r.status]).toEqual([route.path, 400]);
        }),
        { numRuns: 6 },
      );
    }
  }, 120_000);

  it('no query on a list route gives a 5xx', async () => {
    const lists = ['/api/v1/projects', '/api/v1/tasks', '/api/v1/sessions', '/api/v1/templates', `/api/v1/tasks/${ids.task}/children`];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...lists),
        fc.dictionary(fc.constantFrom('limit', 'cursor', 'projectId', 'status', 'parentId', 'taskId', 'active', 'x'), fc.oneof(fc.string(), fc.integer().map(String), fc.constant('null'))),
        async (path, q) => {
          const r = await h.req('GET', `${path}?${new URLSearchParams(q)}`);
          expect(r.status).toBeLessThan(500);
          expect(JSON.stringify(r.body)).not.toMatch(LEAK);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('no path parameter on any route gives a 5xx or a leaked internal', async () => {
    const routes = listRoutes(createApp(h.api.deps)).filter((r) => r.path.startsWith('/api/v1/') && r.path.includes('{'));
    const segment = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('..', '.', '%00', '%2F', 'null', 'undefined', '__proto__', 'constructor', 'a'.repeat(300), '{x}', '*'));
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(segment, segment, async (a, b) => {
          let i = 0;
          const path = route.path.replace(/\{\w+\}/g, () => encodeURIComponent(i++ === 0 ? a : b).replace(/%25/g, '%'));
          const r = await h.req(route.method.toUpperCase(), path, route.method === 'get' || route.method === 'delete' ? undefined : {});
          if (r.status >= 500 && !(r.status === 500 && r.body?.code === 'INTERNAL_ERROR' && /default template/.test(r.body.message))) {
            throw new Error(`${route.method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
          }
          expect(JSON.stringify(r.body ?? '')).not.toMatch(LEAK);
        }),
        { numRuns: 10 },
      );
    }
  }, 120_000);
});
