import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useHarness } from '../helpers/use-harness.js';

/** Issue 15: `maestro task ready`, `task claim [--next]`, `task renew`, `task release`, `task depends --on/--remove`, with the original CLI's conventions. */
const h = useHarness();
const home = mkdtempSync(join(tmpdir(), 'coord-cli-'));
let pid: string;
let sid: string;
const maestro = (args: string[], env: Record<string, string> = {}) =>
  runCli(['--json', ...args], { MAESTRO_API_URL: h.base, MAESTRO_RETRIES: '1', HOME: home, MAESTRO_CREDENTIALS_FILE: join(home, 'none'), MAESTRO_PROJECT_ID: pid, MAESTRO_SESSION_ID: sid, ...env });
const data = async (args: string[], env: Record<string, string> = {}) => {
  const r = await maestro(args, env);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return (JSON.parse(r.stdout) as { success: boolean; data: any }).data;
};

beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'coord' })).body.id;
  sid = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body.id;
});

describe('maestro task coordination commands', () => {
  it('depends, ready, claim --next, renew, release', async () => {
    const a = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'a', priority: 'low' })).body;
    const b = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'b', priority: 'high' })).body;
    expect(await data(['task', 'depends', b.id, '--on', a.id])).toMatchObject({ id: b.id, dependencies: [a.id], blockedBy: [a.id] });
    expect((await data(['task', 'ready'])).map((t: { id: string }) => t.id)).toEqual([a.id]);
    const claimed = await data(['task', 'claim', '--next', '--lease', '60000']);
    expect(claimed).toMatchObject({ id: a.id, status: 'in_progress', claimedBy: { sessionId: sid } });
    expect(await data(['task', 'claim', '--next'])).toBeNull(); // b is blocked: nothing is ready
    const renewed = await data(['task', 'renew', a.id, '--lease', '120000']);
    expect(renewed.claimedBy.expiresAt).toBeGreaterThan(claimed.claimedBy.expiresAt);
    expect(await data(['task', 'release', a.id])).toMatchObject({ status: 'todo', claimedBy: null });
    expect(await data(['task', 'depends', b.id, '--remove', a.id])).toMatchObject({ dependencies: [], blockedBy: [] });
    expect((await data(['task', 'ready'])).map((t: { id: string }) => t.id)).toEqual([b.id, a.id]);
    const taken = await data(['task', 'claim', b.id]);
    const other = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body.id;
    const refused = await maestro(['task', 'claim', b.id], { MAESTRO_SESSION_ID: other });
    expect(refused.status).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ success: false, error: 'http_error', details: { status: 409 } });
    expect(taken.claimedBy.sessionId).toBe(sid);
  });
});
