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
