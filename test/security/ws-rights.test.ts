import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../helpers/api-harness.js';
import { as, startReplicaPair, type AuthWorld, type ReplicaPair } from '../helpers/auth-world.js';
import { connect, type RecordingClient } from '../helpers/ws-client.js';

/**
 * Security issue 11, item 7 (contract 00 "Events"): a socket's rights are re-checked when they change,
 * on every replica: a revoked key's sockets close 4401 within a second, a removed member stops getting
 * the project's events at once. The change is made through one replica, the socket sits on the other.
 */
let pair: ReplicaPair;
let w: AuthWorld;
let other: Harness;

beforeAll(async () => {
  pair = await startReplicaPair();
  ({ w, other } = pair);
});
afterAll(async () => {
  await pair?.close();
});


async function closedWithin(c: RecordingClient, ms: number): Promise<number | undefined> {
  const deadline = Date.now() + ms;
  while (c.closeCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return c.closeCode;
}

describe('a socket\'s rights follow its credential (item 7)', () => {
  it('revoking the key closes its sockets on another replica with 4401 within a second', async () => {
    const u = await w.user('ws-revoke');
    const key = (await w.h.req('POST', '/api/v1/api-keys', { name: 'ws' }, as(u.token))).body;
    const c = await connect(other.base.replace('http', 'ws') + '/', as(key.key));
    const t0 = Date.now();
    expect((await w.h.req('DELETE', `/api/v1/api-keys/${key.id}`, undefined, as(u.token))).status).toBe(200);
    expect(await closedWithin(c, 1000)).toBe(4401);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a session key\'s socket closes when its session ends', async () => {
    const u = await w.user('ws-session');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'ws session' }, as(u.token))).body;
    const s = (await w.h.req('POST', '/api/v1/sessions', { projectId: p.id, taskIds: [] }, as(u.token))).body;
    const key = (await w.h.req('POST', `/api/v1/sessions/${s.id}/api-key`, {}, as(u.token))).body;
    const c = await connect(other.base.replace('http', 'ws') + '/', as(key.key));
    await w.h.req('PATCH', `/api/v1/sessions/${s.id}`, { status: 'completed' }, as(u.token));
    expect(await closedWithin(c, 1000)).toBe(4401);
  });

  it('a member removed from a project stops getting its events at once, and keeps its socket', async () => {
    const owner = await w.user('ws-owner');
    const viewer = await w.user('ws-viewer');
    const p = (await w.h.req('POST', '/api/v1/projects', { name: 'ws members' }, as(owner.token))).body;
    await w.h.req('POST', `/api/v1/projects/${p.id}/members`, { email: viewer.email, role: 'viewer' }, as(owner.token));
    const c = await connect(other.base.replace('http', 'ws') + '/', as(viewer.token));
    await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 'seen' }, as(owner.token));
    await c.until((m) => m.some((e) => e.data?.title === 'seen'));
    await w.h.req('DELETE', `/api/v1/projects/${p.id}/members/${viewer.email}`, undefined, as(owner.token));
    await w.h.req('POST', '/api/v1/tasks', { projectId: p.id, title: 'not seen' }, as(owner.token));
    const mine = (await w.h.req('POST', '/api/v1/projects', { name: 'still mine' }, as(viewer.token))).body;
    await c.until((m) => m.some((e) => e.event === 'project:created' && e.data.id === mine.id));
    expect(c.events().some((e) => e.data?.title === 'not seen')).toBe(false);
    expect(c.closeCode).toBeUndefined();
    await c.close();
  });
});
