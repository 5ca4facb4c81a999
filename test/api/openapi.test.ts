import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { listRoutes } from '../../src/api/route-list.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document whose operations are exactly the routes the app serves', async () => {
    const r = await h.req('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, methods] of Object.entries(r.body.paths as Record<string, Record<string, unknown>>)) {
      for (const m of Object.keys(methods)) documented.add(`${m} ${path}`);
    }
    const served = new Set(
      listRoutes(createApp(h.api.deps))
        .filter((x) => !x.path.startsWith('/api/') || x.path.startsWith('/api/v1/'))
        .map((x) => `${x.method} ${x.path}`),
    );
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
});

describe('GET /docs', () => {
  it('is a self-contained HTML page listing the operations', async () => {
    const res = await fetch(`${h.base}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('/api/v1/sessions/{id}/tasks/{taskId}');
    expect(html).not.toMatch(/<script|https?:\/\/(?!json)/);
  });
});
