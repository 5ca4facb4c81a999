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
    ['CORS_ENABLED', 'maybe'],
    ['CORS_CREDENTIALS', 'ture'],
    ['DEBUG', '2'],
    ['BACKUP_CRON', 'nonsense'],
    ['RETENTION_CRON', '61 * * * *'],
    ['RECONCILE_CRON', '* * * * * * *'],
    ['MAESTRO_JWT_KEYS', 'k1:too-short'],
    ['TRUST_PROXY', 'lopback'],
  ])('rejects %s=%s with a ConfigError naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name} `));
  });

  it('reads booleans the standard way (issue 16): CORS_ENABLED=0 is false, CORS_CREDENTIALS=1 is true, any case', () => {
    const c = loadConfig({ CORS_ENABLED: '0', CORS_CREDENTIALS: '1', DEBUG: 'Yes' });
    expect([c.CORS_ENABLED, c.CORS_CREDENTIALS, c.DEBUG]).toEqual([false, true, true]);
    for (const [v, b] of [['true', true], ['ON', true], ['enabled', true], ['false', false], ['no', false], ['OFF', false], [' 1 ', true]] as const) {
      expect(loadConfig({ CORS_ENABLED: v }).CORS_ENABLED).toBe(b);
    }
    const d = loadConfig({ CORS_ENABLED: '', CORS_CREDENTIALS: '', DEBUG: '' });
    expect([d.CORS_ENABLED, d.CORS_CREDENTIALS, d.DEBUG]).toEqual([true, false, false]);
    expect(() => loadConfig({ CORS_ENABLED: 'maybe' })).toThrow(
      "Invalid configuration: CORS_ENABLED must be a boolean (true/1/yes/on/y/enabled or false/0/no/off/n/disabled, any case), got 'maybe'",
    );
  });

  it('TRUST_PROXY keeps false / true / hop count / subnets, and takes the boolean words', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'off' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8, 192.168.0.0/255.255.0.0' }).TRUST_PROXY).toBe('loopback, 10.0.0.0/8, fd00::/8, 192.168.0.0/255.255.0.0');
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY .*'10\.0\.0\.0\/33' is none of these/);
  });

  it('validates the cron settings at load (issue 16): off, empty = default, 5 or 6 fields', () => {
    const c = loadConfig({ BACKUP_CRON: '* * * * * *', RETENTION_CRON: 'off', RECONCILE_CRON: ' @hourly ' });
    expect([c.BACKUP_CRON, c.RETENTION_CRON, c.RECONCILE_CRON]).toEqual(['* * * * * *', 'off', '@hourly']);
    const d = loadConfig({ BACKUP_CRON: ' ', RETENTION_CRON: '', RECONCILE_CRON: '' });
    expect([d.BACKUP_CRON, d.RETENTION_CRON, d.RECONCILE_CRON]).toEqual([undefined, '17 * * * *', '* * * * *']);
    expect(() => loadConfig({ BACKUP_CRON: 'nonsense' })).toThrow(
      `Invalid configuration: BACKUP_CRON must be a cron pattern (5 fields, or 6 with seconds first) or 'off', got 'nonsense': Validation error, cannot resolve alias "non"`,
    );
  });

  it('checks MAESTRO_JWT_KEYS at load (issue 16): secrets of 32+ characters, the value never in the message', () => {
    const good = `k2:${'b'.repeat(32)},k1:${'a'.repeat(40)}`;
    expect(loadConfig({ MAESTRO_JWT_KEYS: good }).MAESTRO_JWT_KEYS).toBe(good);
    expect(loadConfig({ MAESTRO_JWT_KEYS: '' }).MAESTRO_JWT_KEYS).toBeUndefined();
    const bad: [string, string][] = [
      [`k1:${'s'.repeat(31)}`, "entry 1 (kid 'k1') has a secret of fewer than 32 characters (HS256 needs 256 bits)"],
      [`k1:${'a'.repeat(32)},k2:shortsecret`, "entry 2 (kid 'k2') has a secret of fewer than 32 characters"],
      [`${'s'.repeat(40)}`, 'entry 1 must be kid:secret'],
      [`:${'s'.repeat(40)}`, 'entry 1 must be kid:secret'],
      [`k1:${'a'.repeat(32)},k1:${'b'.repeat(32)}`, "entry 2 repeats kid 'k1'"],
      [' , ', 'must list at least one kid:secret'],
    ];
    for (const [value, rule] of bad) {
      let message = '';
      try {
        loadConfig({ MAESTRO_JWT_KEYS: value });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toContain(`Invalid configuration: MAESTRO_JWT_KEYS ${rule}`);
      expect(message).toContain('the value is not shown');
      for (const part of value.split(',')) if (part.length > 3) expect(message).not.toContain(part.slice(part.indexOf(':') + 1));
    }
  });

  it('reads the first admin (MAESTRO_ADMIN_EMAIL / MAESTRO_ADMIN_PASSWORD; issue 16): both or neither, 8+ characters, the password never in the message', () => {
    expect(loadConfig({}).MAESTRO_ADMIN_EMAIL).toBeUndefined();
    const c = loadConfig({ MAESTRO_ADMIN_EMAIL: ' Ops@Example.COM ', MAESTRO_ADMIN_PASSWORD: '12345678' });
    expect([c.MAESTRO_ADMIN_EMAIL, c.MAESTRO_ADMIN_PASSWORD]).toEqual(['ops@example.com', '12345678']);
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(message({ MAESTRO_ADMIN_EMAIL: 'a@b.co', MAESTRO_ADMIN_PASSWORD: 'seven77' })).toBe('Invalid configuration: MAESTRO_ADMIN_PASSWORD must be 8 to 1024 characters, got 7; the value is not shown');
    expect(message({ MAESTRO_ADMIN_EMAIL: 'a@b.co' })).toBe('Invalid configuration: MAESTRO_ADMIN_PASSWORD must be set with MAESTRO_ADMIN_EMAIL and MAESTRO_ADMIN_PASSWORD both or neither');
    expect(message({ MAESTRO_ADMIN_EMAIL: 'nope', MAESTRO_ADMIN_PASSWORD: '12345678' })).toBe("Invalid configuration: MAESTRO_ADMIN_EMAIL must be an email address, got 'nope'");
  });

  it('accepts the rediss, Sentinel and Cluster URL forms', () => {
    for (const url of ['rediss://h:6380', 'redis-sentinel://:pw@h1:26379,h2:26379/mymaster', 'redis-cluster://h1:6379,h2:6379']) {
      expect(loadConfig({ REDIS_URL: url }).REDIS_URL).toBe(url);
    }
  });
});

describe('start-up with a bad value', () => {
  /** Runs a built entry point with `env` (REDIS_URL at a closed port, should it get that far); exit code, stderr, ms. */
  const run = (script: string, env: Record<string, string>) => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../dist', script)], {
      env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', METRICS_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });
    return { status: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t0 };
  };

  it('the API process exits 1 and names the variable', () => {
    const r = run('api/server.js', { PORT: 'abc' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PORT');
  });

  it('the worker with RETENTION_CRON=nonsense exits 1 at once, naming RETENTION_CRON (not a Redis retry loop; issue 16)', () => {
    const r = run('worker/index.js', { RETENTION_CRON: 'nonsense' });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Invalid configuration: RETENTION_CRON must be a cron pattern (5 fields, or 6 with seconds first) or 'off', got 'nonsense'");
    expect(r.ms).toBeLessThan(5000);
  });

  it('the API with a short MAESTRO_JWT_KEYS secret exits 1 at once, naming the variable, not the secret (issue 16)', () => {
    const r = run('api/server.js', { MAESTRO_JWT_KEYS: 'k1:tooshortsecret' });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Invalid configuration: MAESTRO_JWT_KEYS entry 1 (kid 'k1') has a secret of fewer than 32 characters");
    expect(r.stderr).not.toContain('tooshortsecret');
    expect(r.ms).toBeLessThan(5000);
  });

  it('npm start (dist/start.js) with CORS_ENABLED=maybe exits 1 naming the variable', () => {
    const r = run('start.js', { CORS_ENABLED: 'maybe' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('CORS_ENABLED must be a boolean');
  });
});
