import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

/**
 * Issue 16 (the queue backlog alert): with no worker, a spawn's job waits. BullMQ keeps a job with a
 * priority (a spawn's rank among its user's spawns) as `prioritized`, so the backlog is
 * `maestro_queue_jobs{state="prioritized"}` (before, only `waiting` was read: it stayed 0), and
 * `maestro_queue_oldest_waiting_seconds` is the age of the next job to start.
 */
const h = useHarness();

/** The value of the sample `name{…labels}` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('spawn queue backlog metrics', () => {
  it('counts a waiting spawn as prioritized and reports the age of the next job to start', async () => {
    const before = await (await fetch(`${h.base}/metrics`)).text();
    expect(sample(before, 'maestro_queue_oldest_waiting_seconds')).toBe(0);
    const p = (await h.req('POST', '/api/v1/projects', { name: 'q' })).body;
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 't' })).body;
    const spawned = await h.req('POST', '/api/v1/sessions/spawn', { projectId: p.id, taskIds: [t.id] }, { Prefer: 'respond-async' });
    expect(spawned.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1200));
    const text = await (await fetch(`${h.base}/metrics`)).text();
    expect(sample(text, 'maestro_queue_jobs', 'state="prioritized"')).toBe(1);
    const age = sample(text, 'maestro_queue_oldest_waiting_seconds')!;
    expect(age).toBeGreaterThanOrEqual(1.1);
    expect(age).toBeLessThan(30);
  });
});
