import { readFileSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * Issue 16: the API docs (`/docs`, Swagger UI with local assets; `/api/v1/openapi.json` without
 * credentials) and the queue dashboard (`/admin/queues`, bull-board behind admin auth) over HTTP.
 * The browser side is test/browser/admin-pages.test.ts.
 */
let redis: TestRedis;
let w: AuthWorld;
let admin: { email: string; password: string };
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url, { METRICS_PORT: '0' });
  admin = JSON.parse(readFileSync(w.credentialsFile, 'utf8'));
});
afterAll(async () => {
  await w?.h.close();
  await redis?.stop();
});

describe('API docs (issue 16)', () => {
  it('the OpenAPI document and the docs page answer without credentials; the page loads only local assets', async () => {
    const doc = await w.h.req('GET', '/api/v1/openapi.json');
    expect([doc.status, doc.body.openapi]).toEqual([200, '3.1.0']);
    expect((await w.h.req('GET', '/api/openapi.json')).status).toBe(200);
    // another protected route still needs one (the exception is that one path)
    expect((await w.h.req('GET', '/api/v1/projects')).status).toBe(401);

    const redirect = await fetch(`${w.h.base}/docs`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([301, '/docs/']);
    const page = await fetch(`${w.h.base}/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['./swagger-ui-bundle.js', './swagger-ui.css', './swagger-ui-init.js']));
    expect(assets.filter((a) => /^(https?:)?\/\//.test(a))).toEqual([]);
    for (const asset of ['swagger-ui-bundle.js', 'swagger-ui.css']) expect([asset, (await fetch(`${w.h.base}/docs/${asset}`)).status]).toEqual([asset, 200]);
    const init = await (await fetch(`${w.h.base}/docs/swagger-ui-init.js`)).text();
    expect(init).toContain('"url": "./openapi.json"');
    // the page's copy: the same document, its own origin first among the servers ("Try it out")
    const served = (await (await fetch(`${w.h.base}/docs/openapi.json`)).json()) as { servers: { url: string }[] };
    expect(served).toEqual({ ...doc.body, servers: [{ url: '/', description: expect.any(String) }, ...doc.body.servers] });
    expect(doc.body.servers).toEqual([{ url: w.h.config.SERVER_URL }]);
  });

  it('the operations port (METRICS_PORT) serves the same page and document', async () => {
    const ops = `http://127.0.0.1:${w.h.api.metricsPort}`;
    expect((await fetch(`${ops}/docs/`)).status).toBe(200);
    expect(((await (await fetch(`${ops}/docs/openapi.json`)).json()) as { openapi: string }).openapi).toBe('3.1.0');
  });
});

describe('queue dashboard /admin/queues (issue 16)', () => {
  it('answers admins only: 401 with a Basic challenge, 403 for a non-admin, 200 for an admin key or email and password', async () => {
    const anon = await w.h.req('GET', '/admin/queues');
    expect([anon.status, anon.body.code]).toEqual([401, 'UNAUTHORIZED']);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="Maestro queues", charset="UTF-8"');
    const u = await w.user('queue-viewer');
    const notAdmin = await w.h.req('GET', '/admin/queues', undefined, as(u.token));
    expect([notAdmin.status, notAdmin.body.message]).toEqual([403, 'Only an admin can use the queue dashboard']);
    expect((await w.h.req('GET', '/admin/queues', undefined, basic(u.email, 'correct horse battery'))).status).toBe(403);
    expect((await w.h.req('GET', '/admin/queues', undefined, basic(admin.email, 'not the password'))).status).toBe(401);
    expect((await w.h.req('GET', '/admin/queues', undefined, basic('admin', 'mk_not_a_key'))).status).toBe(401);

    for (const cred of [as(w.adminKey), basic('admin', w.adminKey), basic(admin.email, admin.password)]) {
      const page = await w.h.req('GET', '/admin/queues', undefined, cred);
      expect(page.status).toBe(200);
      expect(String(page.body)).toContain('Maestro queues');
      // nothing from the internet (bull-board's page links Google Fonts; the replica drops the link)
      expect(String(page.body)).not.toMatch(/(src|href)="(https?:)?\/\//);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      const api = await w.h.req('GET', '/admin/queues/api/queues', undefined, cred);
      expect(api.status).toBe(200);
      expect(api.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['maintenance', 'spawn']);
    }
  });

  it('retries and cleans failed spawn jobs; refuses the changes it does not offer and cross-origin ones', async () => {
    const prefix = `${w.h.prefix}{bullmq}`;
    const connection = { host: '127.0.0.1', port: redis.port };
    const queue = new Queue('spawn', { connection, prefix });
    // a worker of the test's own that fails every job (no Maestro worker runs here)
    const failing = new Worker('spawn', async () => Promise.reject(new Error('cli exited 1')), { connection, prefix, autorun: true });
    try {
      await queue.add('spawn', { sessionId: 'sess_a' }, { jobId: 'sess_a' });
      await expect.poll(() => queue.getJobCounts('failed').then((c) => c.failed), { timeout: 10_000 }).toBe(1);
      await failing.close();
      const cred = basic('admin', w.adminKey);
      const listed = await w.h.req('GET', '/admin/queues/api/queues?activeQueue=spawn&status=failed&page=1', undefined, cred);
      const spawnQueue = listed.body.queues.find((q: { name: string }) => q.name === 'spawn');
      expect(spawnQueue.counts.failed).toBe(1);
      expect(spawnQueue.jobs.map((j: { id: string; failedReason: string }) => [j.id, j.failedReason])).toEqual([['sess_a', 'cli exited 1']]);

      // not offered: obliterate, add; from another origin: nothing changes
      expect((await w.h.req('PUT', '/admin/queues/api/queues/spawn/obliterate', {}, cred)).status).toBe(403);
      expect((await w.h.req('POST', '/admin/queues/api/queues/spawn/add', { name: 'x', data: {} }, cred)).status).toBe(403);
      const crossSite = await w.h.req('PUT', '/admin/queues/api/queues/spawn/retry/failed', {}, { ...cred, Origin: 'https://evil.example' });
      expect([crossSite.status, crossSite.body.message]).toEqual([403, 'The queue dashboard takes changes from its own page only']);
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 1, waiting: 0 });

      expect((await w.h.req('PUT', '/admin/queues/api/queues/spawn/retry/failed', {}, { ...cred, Origin: w.h.base })).status).toBe(200);
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 0, waiting: 1 });
      expect((await w.h.req('PUT', '/admin/queues/api/queues/spawn/sess_a/clean', {}, cred)).status).toBe(204);
      expect(await queue.getJobCounts('failed', 'waiting')).toEqual({ failed: 0, waiting: 0 });
    } finally {
      await failing.close();
      await queue.close();
    }
  });
});

describe('queue dashboard sign-in by email and password', () => {
  it('counts unverified attempts against RATE_LIMIT_AUTH_PER_MINUTE (429 after it); a verified pair is not counted again', async () => {
    const limited = await startAuthWorld(redis.url, { RATE_LIMIT_AUTH_PER_MINUTE: '3' });
    try {
      const first = JSON.parse(readFileSync(limited.credentialsFile, 'utf8')) as { email: string; password: string };
      const good = basic(first.email, first.password);
      expect((await limited.h.req('GET', '/admin/queues/api/queues', undefined, good)).status).toBe(200);
      // remembered (ADMIN_LOGIN_CACHE_MS): these pass without counting
      for (let i = 0; i < 5; i++) expect((await limited.h.req('GET', '/admin/queues/api/queues', undefined, good)).status).toBe(200);
      expect((await limited.h.req('GET', '/admin/queues', undefined, basic(first.email, 'wrong-1'))).status).toBe(401);
      expect((await limited.h.req('GET', '/admin/queues', undefined, basic(first.email, 'wrong-2'))).status).toBe(401);
      const limitedOut = await limited.h.req('GET', '/admin/queues', undefined, basic(first.email, 'wrong-3'));
      expect([limitedOut.status, limitedOut.body.code]).toEqual([429, 'RATE_LIMITED']);
      // an API key as the password is not a password attempt
      expect((await limited.h.req('GET', '/admin/queues', undefined, basic('admin', limited.adminKey))).status).toBe(200);
    } finally {
      await limited.h.close();
    }
  });
});
