import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from './api-harness.js';
import { startRedis, type TestRedis } from './redis-server.js';

/** An API replica with `MAESTRO_AUTH=required`, its bootstrap admin's key, and a way to make users. */
export interface AuthWorld {
  h: Harness;
  /** The first admin's API key (from the credentials file the replica wrote). */
  adminKey: string;
  credentialsFile: string;
  /** Registers `<name>@example.com`; its id, access token and refresh token. */
  user(name: string): Promise<{ id: string; email: string; token: string; refresh: string }>;
}

/** The headers that present `cred`: an API key (`mk_…`) as X-API-Key, anything else as a Bearer token. */
export const as = (cred: string): Record<string, string> => (cred.startsWith('mk_') ? { 'X-API-Key': cred } : { Authorization: `Bearer ${cred}` });

/** The environment of a replica with authentication on and rate limits off. */
export function authEnv(credentialsFile: string): Record<string, string> {
  return {
    MAESTRO_AUTH: 'required',
    MAESTRO_CREDENTIALS_FILE: credentialsFile,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_PRINCIPAL_PER_MINUTE: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '0',
    RATE_LIMIT_SPAWN_PER_MINUTE: '0',
  };
}

/** A second replica of `world` (same Redis, prefix and settings): what a load balancer would spread over. */
export function startOtherReplica(redisUrl: string, world: AuthWorld, env: Record<string, string> = {}): Promise<Harness> {
  return startHarness(redisUrl, { ...authEnv(world.credentialsFile), MAESTRO_REDIS_PREFIX: world.h.prefix, ...env });
}

/** Starts a replica with authentication on (rate limits off unless `env` sets them) and waits for its admin key. */
export async function startAuthWorld(redisUrl: string, env: Record<string, string> = {}): Promise<AuthWorld> {
  const credentialsFile = join(mkdtempSync(join(tmpdir(), 'auth-world-')), 'credentials');
  const h = await startHarness(redisUrl, { ...authEnv(credentialsFile), ...env });
  let adminKey = '';
  for (let i = 0; i < 250 && !adminKey; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      adminKey = JSON.parse(readFileSync(credentialsFile, 'utf8')).apiKey;
    } catch {
      /* not written yet */
    }
  }
  if (!adminKey) throw new Error('the replica wrote no admin credentials');
  const user: AuthWorld['user'] = async (name) => {
    const email = `${name}@example.com`;
    const r = await h.req('POST', '/api/v1/auth/register', { email, password: 'correct horse battery', name });
    if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.user.id, email, token: r.body.accessToken, refresh: r.body.refreshToken };
  };
  return { h, adminKey, credentialsFile, user };
}

/** Two replicas of one auth world on a Redis of their own: changes go through `w.h`, `other` is the second replica. */
export interface ReplicaPair {
  redis: TestRedis;
  w: AuthWorld;
  other: Harness;
  /** Stops both replicas, then the Redis. */
  close(): Promise<void>;
}

/** Starts a Redis, an auth world on it and a second replica of that world (`env` for both). */
export async function startReplicaPair(env: Record<string, string> = {}): Promise<ReplicaPair> {
  const redis = await startRedis();
  const w = await startAuthWorld(redis.url, env);
  const other = await startOtherReplica(redis.url, w, env);
  return {
    redis,
    w,
    other,
    close: async () => {
      await other.close();
      await w.h.close();
      await redis.stop();
    },
  };
}
