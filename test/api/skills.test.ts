import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startHarness, type Harness } from '../helpers/api-harness.js';
import { rawGet } from '../helpers/processes.js';

let redis: TestRedis;
let h: Harness;
let h2: Harness;
let dir: string;

function skill(id: string, manifest: unknown, md?: string) {
  mkdirSync(join(dir, id), { recursive: true });
  writeFileSync(join(dir, id, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  if (md !== undefined) writeFileSync(join(dir, id, 'skill.md'), md);
}

beforeAll(async () => {
  redis = await startRedis();
  h = await startHarness(redis.url);
  dir = h.config.SKILLS_DIR;
  // a second replica on the same Redis, prefix and SKILLS_DIR
  h2 = await startHarness(redis.url, { SKILLS_DIR: dir, MAESTRO_REDIS_PREFIX: h.prefix });
});
afterAll(async () => {
  await h2?.close();
  await h?.close();
  await redis?.stop();
});

describe('skills (contract 05)', () => {
  it('SKILLS_DIR missing → []', async () => {
    const r = await h.req('GET', '/api/v1/skills');
    expect(r.status).toBe(200);
    expect(r.body).toEqual([]);
  });

  it('lists skill dirs with a manifest, sorted, with defaults; skips bad JSON, dirs without manifest and files', async () => {
    skill('zeta', { name: 'Zeta', description: 'z', type: 'custom', version: '2.0.0' });
    skill('alpha', {});
    skill('broken', '{ not json');
    mkdirSync(join(dir, 'empty-dir'), { recursive: true });
    writeFileSync(join(dir, 'top-level.json'), '{}');
    const r = await h.req('GET', '/api/v1/skills');
    expect(r.body).toEqual([
      { id: 'alpha', name: 'alpha', description: '', type: 'system', version: '1.0.0' },
      { id: 'zeta', name: 'Zeta', description: 'z', type: 'custom', version: '2.0.0' },
    ]);
  });

  it('GET /skills/:id returns the summary plus instructions (skill.md or "")', async () => {
    skill('with-md', { name: 'With', description: 'd' }, '# Do this');
    expect((await h.req('GET', '/api/v1/skills/with-md')).body).toEqual({
      id: 'with-md',
      name: 'With',
      description: 'd',
      type: 'system',
      version: '1.0.0',
      instructions: '# Do this',
    });
    expect((await h.req('GET', '/api/skills/alpha')).body.instructions).toBe('');
  });

  it('unknown, unparsable and path-escaping ids → 404 "Skill not found: <id>" without statusCode', async () => {
    for (const id of ['nope', 'broken', '..%2F..%2Fetc', 'a%5Cb']) {
      const r = await h.req('GET', `/api/v1/skills/${id}`);
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ error: true, code: 'NOT_FOUND', message: `Skill not found: ${decodeURIComponent(id)}` });
    }
    expect((await h.req('POST', '/api/v1/skills/nope/reload')).status).toBe(404);
    // a literal '..' segment, sent raw (fetch would normalise it away)
    skill('inside', {});
    const raw = await rawGet(h.api.port, '/api/v1/skills/..');
    expect(raw.status).toBe(404);
    expect(JSON.parse(raw.body)).toEqual({ error: true, code: 'NOT_FOUND', message: 'Skill not found: ..' });
  });

  it('role/:role lists maestro-cli then the role skill, with id = manifest.name; a bad role is a route-level 400', async () => {
    skill('maestro-cli', { name: 'Maestro CLI' });
    skill('maestro-worker', { name: 'maestro-worker-skill' });
    const r = await h.req('GET', '/api/v1/skills/role/worker');
    expect(r.body.map((s: { id: string }) => s.id)).toEqual(['Maestro CLI', 'maestro-worker-skill']);
    expect((await h.req('GET', '/api/v1/skills/role/orchestrator')).body.map((s: { id: string }) => s.id)).toEqual(['Maestro CLI']);
    const bad = await h.req('GET', '/api/v1/skills/role/boss');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'Role must be "worker" or "orchestrator"', details: expect.any(Array) });
  });

  it('a reload through one replica reaches the other replica’s cache', async () => {
    skill('shared', { name: 'v1' });
    expect((await h2.req('GET', '/api/v1/skills/shared')).body.name).toBe('v1'); // cached on replica 2
    skill('shared', { name: 'v2' });
    expect((await h2.req('GET', '/api/v1/skills/shared')).body.name).toBe('v1'); // still cached
    const r = await h.req('POST', '/api/v1/skills/shared/reload');
    expect(r.body).toEqual({ id: 'shared', name: 'v2', description: '', type: 'system', version: '1.0.0', reloaded: true });
    let name = '';
    for (let i = 0; i < 50 && name !== 'v2'; i++) {
      await new Promise((res) => setTimeout(res, 20));
      name = (await h2.req('GET', '/api/v1/skills/shared')).body.name;
    }
    expect(name).toBe('v2');
    rmSync(join(dir, 'shared'), { recursive: true });
  });
});
