import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startApi, type ApiServer } from '../../src/api/server.js';
import { loadConfig, type Config } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { call } from './processes.js';

/** An in-process API replica on a free port with its own key prefix, plus a raw Redis client. */
export interface Harness {
  api: ApiServer;
  base: string;
  prefix: string;
  redis: Redis;
  config: Config;
  /** fetch against the API: JSON body in, `{ status, body, headers }` out. */
  req(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** Events appended to a project's stream, oldest first: `{ id, type, data }`. */
  events(projectId: string): Promise<{ id: string; type: string; data: any }[]>;
  close(): Promise<void>;
}

/** Starts an API replica against `redisUrl` with a random `MAESTRO_REDIS_PREFIX`. */
export async function startHarness(redisUrl: string, env: Record<string, string> = {}): Promise<Harness> {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const dir = mkdtempSync(join(tmpdir(), 'maestro-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    MAESTRO_REDIS_PREFIX: prefix,
    MAESTRO_AUTH: 'disabled',
    SKILLS_DIR: join(dir, 'skills'),
    SESSION_DIR: join(dir, 'sessions'),
    DATA_DIR: join(dir, 'data'),
    LOG_LEVEL: 'silent',
    ...env,
  });
  const api = await startApi(config, createLogger('api-test', 'silent'));
  const base = `http://127.0.0.1:${api.port}`;
  const redis = new Redis(redisUrl);
  const req: Harness['req'] = (method, path, body, headers = {}) => call(base, method, path, body, headers);
  const events: Harness['events'] = async (projectId) => {
    const entries = await redis.xrange(`${prefix}{${projectId}}:events`, '-', '+');
    return entries.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return { id, type: f.type!, data: JSON.parse(f.data!) };
    });
  };
  return {
    api,
    base,
    prefix,
    redis,
    config,
    req,
    events,
    close: async () => {
      await api.close();
      redis.disconnect();
    },
  };
}
