import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();

const maestro = (args: string[]) => runCli(args, { REDIS_URL: h.testRedis.url });

const T0 = 1_700_000_000_000;
const P1 = 'proj_1700000000000_aaaaaaaaa';
const P2 = 'proj_1700000001000_bbbbbbbbb';
const TA = 'task_1700000002000_aaaaaaaaa';
const TB = 'task_1700000003000_bbbbbbbbb';
const TC = 'task_1700000004000_ccccccccc';
const S1 = 'sess_1700000005000_aaaaaaaaa';
const S2 = 'sess_1700000006000_bbbbbbbbb';
const W1 = 'tmpl_1700000000500_aaaaaaaaa';
const O1 = 'tmpl_1700000000600_bbbbbbbbb';

/** An original server's DATA_DIR (contract 06 layout), with the legacy shapes its loader migrates. */
function buildDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-original-'));
  const put = (rel: string, value: unknown) => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  };
  put(`projects/${P1}.json`, { id: P1, name: 'One', workingDir: '/src/one', description: 'first', createdAt: T0, updatedAt: T0 + 10, color: 'blue' });
  put(`projects/${P2}.json`, { id: P2, name: 'Two', workingDir: '', description: '', createdAt: T0 + 1000, updatedAt: T0 + 1000 });
  put('projects/broken.json', '{"id": "proj_broken", ');
  const task = { description: '', status: 'todo', priority: 'medium', startedAt: null, completedAt: null, initialPrompt: '', dependencies: [] };
  put(`tasks/${P1}/${TA}.json`, { ...task, id: TA, projectId: P1, parentId: null, title: 'Root', createdAt: T0 + 2000, updatedAt: T0 + 2000, sessionIds: [S1, S2], skillIds: ['s'], agentIds: [] });
  // legacy: no sessionIds / skillIds / agentIds
  put(`tasks/${P1}/${TB}.json`, { ...task, id: TB, projectId: P1, parentId: TA, title: 'Child', status: 'in_progress', startedAt: T0 + 3500, createdAt: T0 + 3000, updatedAt: T0 + 3500, model: 'opus' });
  // legacy location tasks/<taskId>.json, with a task timeline (moved to sessions long ago)
  put(`tasks/${TC}.json`, { ...task, id: TC, projectId: P2, parentId: null, title: 'Legacy', createdAt: T0 + 4000, updatedAt: T0 + 4000, sessionIds: [], skillIds: [], agentIds: [], timeline: [{ type: 'x' }] });
  put(`tasks/${P1}/task_orphan.json`, { ...task, id: 'task_orphan', projectId: 'proj_gone', title: 'Orphan', createdAt: T0 });
  // legacy session: `taskId`, and no taskIds, name, env, events, timeline, strategy
  put(`sessions/${S1}.json`, { id: S1, projectId: P1, taskId: TA, status: 'running', startedAt: T0 + 5000, lastActivity: T0 + 5100, completedAt: null, hostname: 'box', platform: 'linux' });
  put(`sessions/${S2}.json`, {
    id: S2,
    projectId: P1,
    taskIds: [TA],
    name: 'Queue worker',
    env: { MAESTRO_SESSION_ID: S2 },
    strategy: 'queue',
    status: 'completed',
    startedAt: T0 + 6000,
    lastActivity: T0 + 6500,
    completedAt: T0 + 6500,
    hostname: 'box',
    platform: 'darwin',
    events: [{ id: 'evt_1', timestamp: T0 + 6100, type: 'file_modified', data: { file: 'a.ts' } }],
    timeline: [{ id: 'evt_2', type: 'session_started', timestamp: T0 + 6000, message: 'Session created' }],
    metadata: { skills: [], spawnedBy: null, spawnSource: 'ui', role: 'worker', strategy: 'queue', context: {} },
  });
  put(`queues/${S2}.json`, { sessionId: S2, strategy: 'queue', items: [{ taskId: TA, status: 'completed', addedAt: T0 + 6000, startedAt: T0 + 6100, completedAt: T0 + 6400 }], currentIndex: -1, createdAt: T0 + 6000, updatedAt: T0 + 6400 });
  // an id that would name another key of its project (security issue 11, item 14)
  put('sessions/bad.json', { id: `${S1}:events`, projectId: P1, taskIds: [TA], status: 'idle', startedAt: T0, lastActivity: T0 });
  put('queues/sess_gone.json', { sessionId: 'sess_gone', strategy: 'queue', items: [], currentIndex: -1, createdAt: T0, updatedAt: T0 });
  put(`templates/${W1}.json`, { id: W1, name: 'Default Worker Template', role: 'worker', content: 'our edited worker prompt', isDefault: true, createdAt: T0 + 500, updatedAt: T0 + 900 });
  put(`templates/${O1}.json`, { id: O1, name: 'Reviewer', role: 'orchestrator', content: 'review', isDefault: false, createdAt: T0 + 600, updatedAt: T0 + 600 });
  return dir;
}

let dataDir: string;
let report: { imported: Record<string, number>; skipped: { kind: string; id: string; reason: string }[]; notes: { kind: string; id: string; reason: string }[] };

beforeAll(async () => {
  // the API seeds its default templates once Redis is ready: let it finish (the migration replaces one)
  for (let i = 0; i < 100 && (await h.req('GET', '/api/templates')).body.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  dataDir = buildDataDir();
  const r = await maestro(['migrate', '--from', dataDir, '--prefix', h.prefix, '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  report = JSON.parse(r.stdout).data as typeof report;
}, 60_000);

describe('maestro migrate --from DATA_DIR (issue 6, contract 06 layout)', () => {
  it('reports what was imported, what was changed on the way and what was skipped and why', () => {
    expect(report.imported).toEqual({ project: 2, task: 3, session: 2, queue: 1, template: 2 });
    const skipped = report.skipped.map((s) => [s.kind, s.id, s.reason]);
    expect(skipped).toEqual(
      expect.arrayContaining([
        ['project', '?', expect.stringMatching(/corrupt JSON/)],
        ['task', 'task_orphan', 'project proj_gone not found'],
        ['queue', 'sess_gone', 'session sess_gone not found'],
        ['session', `${S1}:events`, expect.stringMatching(/may contain only letters, digits/)],
      ]),
    );
    expect(skipped).toHaveLength(4);
    const notes = Object.fromEntries(report.notes.map((n) => [n.id, n.reason]));
    expect(notes[P1]).toMatch(/color/);
    expect(notes[TB]).toMatch(/sessionIds, skillIds, agentIds set to \[\]/);
    expect(notes[TC]).toMatch(/timeline not kept/);
    expect(notes[S1]).toMatch(/taskId → taskIds, name, env, events, timeline, strategy/);
    expect(notes[W1]).toMatch(/replaced the seeded default worker template/);
  });

  it('the API serves the imported store as the original did', async () => {
    const p1 = (await h.req('GET', `/api/projects/${P1}`)).body;
    expect(p1).toMatchObject({ id: P1, name: 'One', workingDir: '/src/one', description: 'first', createdAt: T0, updatedAt: T0 + 10 });
    const projects = (await h.req('GET', '/api/projects')).body as { id: string }[];
    expect(projects.map((p) => p.id)).toEqual([P1, P2]);

    const tasks = (await h.req('GET', `/api/tasks?projectId=${P1}`)).body as Record<string, unknown>[];
    expect(tasks.map((t) => t.id)).toEqual([TA, TB]);
    expect(tasks[1]).toMatchObject({ id: TB, parentId: TA, title: 'Child', status: 'in_progress', startedAt: T0 + 3500, sessionIds: [], skillIds: [], agentIds: [], model: 'opus' });
    expect((await h.req('GET', `/api/tasks/${TA}/children`)).body.map((t: { id: string }) => t.id)).toEqual([TB]);
    expect((await h.req('GET', `/api/tasks?projectId=${P1}&status=in_progress`)).body.map((t: { id: string }) => t.id)).toEqual([TB]);
    const legacy = (await h.req('GET', `/api/tasks/${TC}`)).body;
    expect(legacy).toMatchObject({ id: TC, projectId: P2, title: 'Legacy' });
    expect(legacy.timeline).toBeUndefined();
    expect((await h.req('GET', '/api/tasks/task_orphan')).status).toBe(404);

    const s1 = (await h.req('GET', `/api/sessions/${S1}`)).body;
    expect(s1).toMatchObject({ id: S1, projectId: P1, taskIds: [TA], name: `Session ${S1}`, env: {}, strategy: 'simple', status: 'running', events: [], timeline: [], startedAt: T0 + 5000, lastActivity: T0 + 5100, hostname: 'box' });
    const s2 = (await h.req('GET', `/api/sessions/${S2}`)).body;
    expect(s2).toMatchObject({ id: S2, name: 'Queue worker', status: 'completed', completedAt: T0 + 6500, events: [{ id: 'evt_1', type: 'file_modified' }], timeline: [{ id: 'evt_2' }] });
    expect((await h.req('GET', `/api/sessions?taskId=${TA}`)).body.map((s: { id: string }) => s.id)).toEqual([S1, S2]);
    expect((await h.req('GET', `/api/sessions?projectId=${P1}&active=true`)).body.map((s: { id: string }) => s.id)).toEqual([S1]);
    const queue = await h.req('GET', `/api/sessions/${S2}/queue`);
    expect(queue.status).toBe(200);
    expect(JSON.stringify(queue.body)).toContain(`"completedAt":${T0 + 6400}`);

    const worker = (await h.req('GET', '/api/templates/role/worker')).body;
    expect(worker).toMatchObject({ id: W1, content: 'our edited worker prompt', isDefault: true });
    const templates = (await h.req('GET', '/api/templates')).body as { id: string; role: string; isDefault: boolean }[];
    expect(templates.filter((t) => t.role === 'worker' && t.isDefault).map((t) => t.id)).toEqual([W1]);
    expect(templates.map((t) => t.id)).toContain(O1);

    // and it is live data: the API changes it like any other
    const patched = await h.req('PATCH', `/api/tasks/${TB}`, { status: 'completed' });
    expect(patched.status).toBe(200);
    expect(patched.body.completedAt).toBeGreaterThan(T0);
  });

  it('is idempotent: a second run imports nothing and says each entity is already present', async () => {
    const r = await maestro(['migrate', '--from', dataDir, '--prefix', h.prefix, '--json']);
    expect(r.status).toBe(0);
    const again = JSON.parse(r.stdout).data as typeof report;
    expect(again.imported).toEqual({ project: 0, task: 0, session: 0, queue: 0, template: 0 });
    expect(again.skipped.filter((s) => s.reason === 'already present')).toHaveLength(10);
    expect((await h.req('GET', `/api/tasks/${TB}`)).body.status).toBe('completed'); // not overwritten
    const text = await maestro(['migrate', '--from', dataDir, '--prefix', h.prefix, '--no-progress']);
    expect(text.stdout).toMatch(/^Imported from .*: 0 projects, 0 tasks, 0 sessions, 0 queues, 0 templates/);
    expect(text.stdout).toMatch(/Skipped \(14\):/);
  });
});
