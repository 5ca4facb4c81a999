import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { redactEnv, REDACT_PATHS, SECRET_NAME } from '../../src/shared/logger.js';

describe('log redaction', () => {
  it('redacts env values whose names contain KEY, TOKEN, SECRET or PASSWORD', () => {
    expect(redactEnv({ MAESTRO_API_KEY: 'k', GITHUB_TOKEN: 't', DB_PASSWORD: 'p', aws_secret: 's', MAESTRO_SESSION_ID: 'sess_1' })).toEqual({
      MAESTRO_API_KEY: '[redacted]',
      GITHUB_TOKEN: '[redacted]',
      DB_PASSWORD: '[redacted]',
      aws_secret: '[redacted]',
      MAESTRO_SESSION_ID: 'sess_1',
    });
    expect(SECRET_NAME.test('PATH')).toBe(false);
  });

  it('redacts credential headers and secret fields wherever they are logged', () => {
    let out = '';
    const sink = new Writable({ write: (chunk, _enc, cb) => ((out += String(chunk)), cb()) });
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    log.info({ req: { headers: { authorization: 'Bearer abc.def', 'x-api-key': 'mk_1.secret', cookie: 'c=1' } }, body: { password: 'hunter22', refreshToken: 'rt_x' } }, 'x');
    expect(out).not.toMatch(/abc\.def|mk_1\.secret|c=1|hunter22|rt_x/);
    expect(out.match(/\[redacted\]/g)).toHaveLength(5);
  });
});

describe('log format (issue 6: JSON, pretty on a development TTY)', () => {
  it('pretty only when asked, or when unset on a TTY in development', async () => {
    const { prettyLogs } = await import('../../src/shared/logger.js');
    expect(prettyLogs('pretty', 'production', false)).toBe(true);
    expect(prettyLogs('json', 'development', true)).toBe(false);
    expect(prettyLogs(undefined, 'development', true)).toBe(true);
    expect(prettyLogs(undefined, 'development', false)).toBe(false);
    expect(prettyLogs(undefined, 'production', true)).toBe(false);
    expect(prettyLogs(undefined, 'test', true)).toBe(false);
  });

  it('a pretty logger prints readable lines, still redacted', async () => {
    const { execFileSync } = await import('node:child_process');
    const { resolve } = await import('node:path');
    const dist = resolve(import.meta.dirname, '../../dist/shared/logger.js');
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(dist)}; createLogger('api', 'info', true).info({ env: { MAESTRO_API_KEY: 'sk_secret' } }, 'hello there');`],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/INFO.*\(api\): hello there/);
    expect(out).not.toContain('sk_secret');
    expect(() => JSON.parse(out.split('\n')[0]!)).toThrow();
  });
});
