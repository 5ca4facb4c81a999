import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * The dotenv files the original CLI reads (contract 09 §2), in order of precedence after the real
 * environment: `./.env` in the working directory, `~/.maestro-staging/config` (only when SESSION_DIR or
 * DATA_DIR contains `maestro-staging` or MAESTRO_SERVER_URL contains `3002`), `~/.maestro/config`. A
 * file never overrides a variable already set (by the environment or an earlier file); a missing or
 * unreadable file is skipped. Parsed with Node's own dotenv parser (`util.parseEnv`). Returns the
 * files that were read.
 */
export function loadEnvFiles(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), home = homedir()): string[] {
  const staging = [env.SESSION_DIR, env.DATA_DIR].some((v) => v?.includes('maestro-staging')) || Boolean(env.MAESTRO_SERVER_URL?.includes('3002'));
  const files = [join(cwd, '.env'), ...(staging ? [join(home, '.maestro-staging', 'config')] : []), join(home, '.maestro', 'config')];
  const read: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    read.push(file);
    for (const [k, v] of Object.entries(parseEnv(text))) if (env[k] === undefined) env[k] = v;
  }
  return read;
}
