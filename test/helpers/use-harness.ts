import { afterAll, beforeAll } from 'vitest';
import { startHarness, type Harness } from './api-harness.js';
import { startRedis, type TestRedis } from './redis-server.js';

/**
 * Registers beforeAll/afterAll hooks that start a throwaway Redis and an in-process API replica for
 * the file, and returns a stand-in that forwards to the harness once it has started.
 */
export function useHarness(env: Record<string, string> = {}): Harness & { testRedis: TestRedis } {
  let redis: TestRedis | undefined;
  let harness: Harness | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    harness = await startHarness(redis.url, env);
  });
  afterAll(async () => {
    await harness?.close();
    await redis?.stop();
  });
  return new Proxy({} as Harness & { testRedis: TestRedis }, {
    get(_t, prop) {
      if (prop === 'testRedis') return redis;
      if (!harness) throw new Error('harness not started yet (use it inside tests or hooks)');
      const v = (harness as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? v.bind(harness) : v;
    },
  });
}
