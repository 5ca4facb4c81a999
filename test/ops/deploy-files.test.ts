import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification schema (vendored in deploy/schemas)', () => {
    const schema = JSON.parse(readFileSync(resolve(root, 'deploy/schemas/compose-spec.json'), 'utf8'));
    delete schema.$schema; // the spec names the https URL of draft-07's meta-schema, which Ajv knows as http
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(schema);
    const doc = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    expect(validate({ services: { x: { image: 'a', unknown_key: 1 } } })).toBe(false); // the validator does reject
  });

  it('runs Redis with AOF, two API replicas, a worker and nginx in front', () => {
    const doc = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    expect(Object.keys(doc.services).sort()).toEqual(['api1', 'api2', 'nginx', 'redis', 'worker']);
    expect(doc.services.redis.command).toContain('--appendonly');
    expect(doc.services.worker.command).toEqual(['node', 'dist/worker/index.js']);
    const nginx = readFileSync(resolve(root, 'deploy/nginx/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/server api1:3000/);
    expect(nginx).toMatch(/server api2:3000/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade/);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, runs as a non-root user and has a health check', () => {
    const text = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/^HEALTHCHECK /m);
  });
});
