import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { ConfigError } from '../../src/shared/errors.js';

describe('loadConfig', () => {
  it('applies the defaults of contract 06 and the cluster settings', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.HOST).toBe('0.0.0.0');
    expect(c.SERVER_URL).toBe('http://localhost:3000');
    expect(c.DATA_DIR).toBe(join(homedir(), '.maestro/data'));
    expect(c.SESSION_DIR).toBe(join(homedir(), '.maestro/sessions'));
    expect(c.SKILLS_DIR).toBe(join(homedir(), '.agents-ui/maestro-skills'));
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.MAESTRO_REDIS_PREFIX).toBe('maestro:');
    expect(c.MAESTRO_AUTH).toBe('required');
    expect(c.MANIFEST_GENERATOR).toBe('cli');
    expect(c.MAESTRO_CLI_PATH).toMatch(/\/dist\/cli\/index\.js$/);
    expect(c.CORS_ORIGINS).toEqual(['*']);
    expect(c.CORS_ENABLED).toBe(true);
    expect(c.EVENT_STREAM_MAXLEN).toBe(10_000);
  });

  it('expands ~ and trims CORS_ORIGINS', () => {
    const c = loadConfig({ DATA_DIR: '~/x', CORS_ORIGINS: ' http://a , http://b ', SERVER_URL: 'http://lb' });
    expect(c.DATA_DIR).toBe(join(homedir(), 'x'));
    expect(c.CORS_ORIGINS).toEqual(['http://a', 'http://b']);
    expect(c.SERVER_URL).toBe('http://lb');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['REDIS_URL', 'http://localhost'],
    ['MANIFEST_GENERATOR', 'magic'],
    ['MAESTRO_AUTH', 'maybe'],
    ['LOG_LEVEL', 'loud'],
    ['NODE_ENV', 'staging'],
    ['MAESTRO_REDIS_PREFIX', 'a{b}'],
    ['WORKER_CONCURRENCY', '0'],
  ])('rejects %s=%s with a ConfigError naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} `));
  });

  it('accepts the rediss, Sentinel and Cluster URL forms', () => {
    for (const url of ['rediss://h:6380', 'redis-sentinel://:pw@h1:26379,h2:26379/mymaster', 'redis-cluster://h1:6379,h2:6379']) {
      expect(loadConfig({ REDIS_URL: url }).REDIS_URL).toBe(url);
    }
  });
});

describe('start-up with a bad value', () => {
  it('the API process exits 1 and names the variable', () => {
    const r = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../dist/api/server.js')], {
      env: { ...process.env, PORT: 'abc' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PORT');
  });
});
