import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { responseValidators } from '../helpers/openapi-conformance.js';
import { startWorkerProcess, type ApiProcess } from '../helpers/processes.js';
import { useHarness } from '../helpers/use-harness.js';
import { connect } from '../helpers/ws-client.js';

const root = resolve(import.meta.dirname, '../..');
const h = useHarness({ SPAWN_WAIT_MS: '20000' });
let worker: ApiProcess;
let pid: string;
let workingDir: string;

/** Runs the built CLI (see runCli). */
const maestro = (args: string[], env: Record<string, string> = {}) => runCli(args, { MAESTRO_API_URL: h.base, MAESTRO_RETRIES: '0', ...env }, 30_000);

beforeAll(async () => {
  worker = await startWorkerProcess(h.testRedis.url, h.prefix, {
    SERVER_URL: h.base,
    SESSION_DIR: h.config.SESSION_DIR,
    DATA_DIR: h.config.DATA_DIR,
    MAESTRO_CLI_PATH: CLI,
  });
  workingDir = mkdtempSync(join(tmpdir(), 'maestro-wd-'));
  pid = (await h.req('POST', '/api/v1/projects', { name: 'spawn', workingDir })).body.id;
});
afterAll(async () => {
  await worker?.kill('SIGTERM');
});

const task = async (title = 't', extra: Record<string, unknown> = {}) => (await h.req('POST', '/api/v1/tasks', { projectId: pid, title, ...extra })).body;

describe('POST /sessions/spawn (contract 04)', () => {
  it('201 with the original response plus envVars, initialCommand, cwd and manifest; events session:updated, session:spawn, task:session_added×N', async () => {
    const [a, b] = [await task('first', { description: 'do a', priority: 'high' }), await task('second')];
    const before = (await h.events(pid)).length;
    const r = await h.req('POST', '/api/sessions/spawn', { projectId: pid, taskIds: [a.id, b.id], skills: ['maestro-worker'], context: { why: 'test' }, spawnedBy: 'ignored' });
    expect(r.status).toBe(201);
    // the answer is what the OpenAPI document says, field for field (test/api/openapi.test.ts checks the rest)
    const documented = responseValidators((await h.req('GET', '/api/v1/openapi.json')).body);
    const spawn201 = documented.validatorOf('post', '/api/v1/sessions/spawn', 201);
    expect([spawn201(r.body), documented.errorsText(spawn201)]).toEqual([true, 'No errors']);
    const sid = r.body.sessionId;
    const manifestPath = join(h.config.SESSION_DIR, sid, 'manifest.json');
    const envVars = {
      MAESTRO_SESSION_ID: sid,
      MAESTRO_MANIFEST_PATH: manifestPath,
      MAESTRO_SERVER_URL: h.base,
      MAESTRO_STRATEGY: 'simple',
      DATA_DIR: h.config.DATA_DIR,
      SESSION_DIR: h.config.SESSION_DIR,
    };
    expect(Object.keys(r.body)).toEqual(['success', 'sessionId', 'manifestPath', 'message', 'session', 'envVars', 'initialCommand', 'cwd', 'manifest']);
    expect(r.body).toMatchObject({ success: true, manifestPath, message: 'Spawn request sent to Agents UI', envVars, initialCommand: 'maestro worker init', cwd: workingDir });
    expect(r.body.session).toMatchObject({
      id: sid,
      name: `Worker for ${a.id}`,
      status: 'spawning',
      strategy: 'simple',
      taskIds: [a.id, b.id],
      env: envVars,
      metadata: { skills: ['maestro-worker'], spawnedBy: null, spawnSource: 'ui', role: 'worker', strategy: 'simple', context: { why: 'test' } },
    });
    expect(r.body.session.timeline.map((e: { type: string }) => e.type)).toEqual(['session_started', 'task_started', 'task_started']);

    const template = (await h.req('GET', '/api/v1/templates/role/worker')).body;
    expect(r.body.manifest).toEqual({
      manifestVersion: '1.0',
      role: 'worker',
      tasks: [
        { id: a.id, title: 'first', description: 'do a', acceptanceCriteria: ['Task completion as described'], projectId: pid, createdAt: new Date(a.createdAt).toISOString(), parentId: null, dependencies: [], priority: 'high' },
        { id: b.id, title: 'second', description: '', acceptanceCriteria: ['Task completion as described'], projectId: pid, createdAt: new Date(b.createdAt).toISOString(), parentId: null, dependencies: [], priority: 'medium' },
      ],
      session: { model: 'sonnet', permissionMode: 'acceptEdits', thinkingMode: 'auto', workingDirectory: workingDir },
      context: { custom: { taskIds: [a.id, b.id] } },
      skills: ['maestro-worker'],
      strategy: 'simple',
      templateId: template.id,
    });
    expect(Object.keys(r.body.manifest)).toEqual(['manifestVersion', 'role', 'tasks', 'session', 'context', 'skills', 'strategy', 'templateId']);
    expect(JSON.parse(readFileSync(manifestPath, 'utf8'))).toEqual(r.body.manifest);
    expect(readFileSync(manifestPath, 'utf8')).toContain('\n  "manifestVersion": "1.0"');
    expect((await h.req('GET', `/api/v1/sessions/${sid}/manifest`)).body).toEqual(r.body.manifest);
    const manifest200 = documented.validatorOf('get', '/api/v1/sessions/{id}/manifest', 200);
    expect(manifest200(r.body.manifest)).toBe(true);

    const evs = (await h.events(pid)).slice(before);
    expect(evs.map((e) => e.type)).toEqual(['session:updated', 'session:spawn', 'task:session_added', 'task:session_added']);
    // session:updated carries the session without its lists (plus counts); session:spawn the whole one
    const { events: _e, timeline: _t, ...head } = r.body.session;
    expect(evs[0]!.data).toEqual({ ...head, eventCount: 0, timelineCount: 3 });
    expect(Object.keys(evs[1]!.data)).toEqual(['session', 'command', 'cwd', 'envVars', 'manifest', 'projectId', 'taskIds', 'spawnSource', 'parentSessionId', '_isSpawnCreated']);
    expect(evs[1]!.data).toEqual({
      session: r.body.session,
      command: 'maestro worker init',
      cwd: workingDir,
      envVars,
      manifest: r.body.manifest,
      projectId: pid,
      taskIds: [a.id, b.id],
      spawnSource: 'ui',
      parentSessionId: null,
      _isSpawnCreated: true,
    });
    expect(evs[2]!.data).toEqual({ taskId: a.id, sessionId: sid });
    expect((await h.req('GET', `/api/v1/tasks/${a.id}`)).body.sessionIds).toEqual([sid]);
  });

  it('validates in the contract order with envelope B and creates nothing', async () => {
    const t = await task();
    const parent = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body.id;
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{}, 400, 'missing_project_id', 'projectId is required'],
      [{ projectId: pid }, 400, 'invalid_task_ids', 'taskIds must be a non-empty array'],
      [{ projectId: pid, taskIds: [] }, 400, 'invalid_task_ids', 'taskIds must be a non-empty array'],
      [{ projectId: pid, taskIds: [t.id], spawnSource: 'cli' }, 400, 'invalid_spawn_source', 'spawnSource must be "ui" or "session"'],
      [{ projectId: pid, taskIds: [t.id], spawnSource: 'session' }, 400, 'missing_session_id', 'sessionId is required when spawnSource is "session"'],
      [{ projectId: pid, taskIds: [t.id], spawnSource: 'session', sessionId: 'sess_nope' }, 404, 'parent_session_not_found', 'Parent session sess_nope not found'],
      [{ projectId: pid, taskIds: [t.id], sessionId: parent, spawnSource: 'session', role: 'boss' }, 400, 'invalid_role', 'role must be "worker" or "orchestrator"'],
      [{ projectId: 'proj_nope', taskIds: [t.id, 'task_nope'], role: 'boss' }, 400, 'invalid_role', 'role must be "worker" or "orchestrator"'],
      [{ projectId: 'proj_nope', taskIds: [t.id, 'task_nope'] }, 404, 'task_not_found', 'Task task_nope not found'],
      [{ projectId: 'proj_nope', taskIds: [t.id], strategy: 'weird' }, 404, 'project_not_found', 'Project proj_nope not found'],
      [{ projectId: pid, taskIds: [t.id], strategy: 'weird' }, 400, 'invalid_strategy', 'strategy must be "simple", "queue", or "tree"'],
    ];
    const before = (await h.events(pid)).length;
    const sessionsBefore = (await h.req('GET', `/api/v1/sessions?projectId=${pid}`)).headers.get('x-total-count');
    for (const [body, status, code, message] of cases) {
      const r = await h.req('POST', '/api/v1/sessions/spawn', body);
      expect([r.status, r.body.code, r.body.message]).toEqual([status, code, message]);
      expect(r.body).not.toHaveProperty('statusCode');
    }
    expect((await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [t.id, 'task_nope'] })).body.details).toEqual({ taskId: 'task_nope' });
    expect((await h.events(pid)).length).toBe(before);
    expect((await h.req('GET', `/api/v1/sessions?projectId=${pid}`)).headers.get('x-total-count')).toBe(sessionsBefore);
  });

  it('Prefer: respond-async → 202 at once; the client follows session:spawn', async () => {
    const t = await task();
    const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [t.id], role: 'orchestrator', sessionName: 'orc' }, { Prefer: 'respond-async' });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ success: true, sessionId: expect.any(String), session: { status: 'spawning', name: 'orc', env: {} } });
    let spawnEvent;
    for (let i = 0; i < 200 && !spawnEvent; i++) {
      await new Promise((res) => setTimeout(res, 25));
      spawnEvent = (await h.events(pid)).find((e) => e.type === 'session:spawn' && e.data.session.id === r.body.sessionId);
    }
    expect(spawnEvent!.data).toMatchObject({ command: 'maestro orchestrator init', manifest: { role: 'orchestrator' } });
  });

  it('strategy queue creates the queue with the session, atomically', async () => {
    const [a, b] = [await task(), await task()];
    const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [a.id, b.id], strategy: 'queue' });
    expect(r.status).toBe(201);
    expect(r.body.envVars.MAESTRO_STRATEGY).toBe('queue');
    const q = (await h.req('GET', `/api/v1/sessions/${r.body.sessionId}/queue`)).body;
    expect(q.queue.items.map((i: { taskId: string }) => i.taskId)).toEqual([a.id, b.id]);
  });

  it('strategy tree fails manifest validation like the real CLI: 500 manifest_generation_failed, session failed with the reason', async () => {
    const t = await task();
    const r = await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [t.id], strategy: 'tree' });
    expect(r.status).toBe(500);
    expect(r.body.code).toBe('manifest_generation_failed');
    expect(r.body.message).toMatch(/^Failed to generate manifest: Manifest generation failed \(exit code 1\): .*Generated manifest failed validation: strategy/s);
    const sessions = (await h.req('GET', `/api/v1/sessions?taskId=${t.id}`)).body;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ status: 'failed', metadata: { error: expect.stringContaining('Generated manifest failed validation') } });
    expect(sessions[0].completedAt).toEqual(expect.any(Number));
    const evs = (await h.events(pid)).filter((e) => e.data?.id === sessions[0].id || e.data?.session?.id === sessions[0].id);
    expect(evs.map((e) => e.type)).toEqual(['session:updated']);
    expect(evs[0]!.data.status).toBe('failed');
  }, 30_000);
});

describe('the maestro CLI', () => {
  it('manifest generate writes the manifest of contract 04 from the API', async () => {
    const t = await task('cli task');
    const out = join(mkdtempSync(join(tmpdir(), 'mf-')), 'sub', 'manifest.json');
    const r = await maestro(['manifest', 'generate', '--role', 'worker', '--project-id', pid, '--task-ids', t.id, '--skills', '', '--strategy', 'simple', '--output', out]);
    expect(r.status).toBe(0);
    const m = JSON.parse(readFileSync(out, 'utf8'));
    expect(m).toMatchObject({ manifestVersion: '1.0', role: 'worker', skills: [], strategy: 'simple', tasks: [{ id: t.id, title: 'cli task' }] });
    const missing = await maestro(['manifest', 'generate', '--role', 'worker', '--project-id', pid, '--task-ids', 'task_nope', '--output', out]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('Task task_nope not found');
  });

  it('session spawn from inside a session spawns with spawnSource session and the parent', async () => {
    const t = await task();
    const parent = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body.id;
    const r = await maestro(['--json', 'session', 'spawn', '--task', t.id, '--skill', 'maestro-orchestrator'], { MAESTRO_SESSION_ID: parent });
    expect(r.status).toBe(0);
    const body = JSON.parse(r.stdout).data;
    expect(body.session.metadata).toMatchObject({ spawnSource: 'session', spawnedBy: parent, role: 'orchestrator', skills: ['maestro-orchestrator'] });
  });

  it('the whole loop: worker init launches the agent, whose reports change the session and task; its exit status passes through', async () => {
    const t = await task('loop task');
    const spawned = (await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [t.id] })).body;
    const watcher = await connect(h.base.replace('http', 'ws') + '/');
    const outFile = join(mkdtempSync(join(tmpdir(), 'agent-')), 'agent.json');
    const r = await maestro(['worker', 'init'], {
      ...spawned.envVars,
      MAESTRO_API_URL: '',
      MAESTRO_AGENT_CMD: `${process.execPath} ${join(root, 'test/fixtures/fake-agent.mjs')}`,
      FAKE_AGENT_CLI: CLI,
      FAKE_AGENT_OUT: outFile,
      FAKE_AGENT_EXIT: '7',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
    const agent = JSON.parse(readFileSync(outFile, 'utf8'));
    expect(agent.cwd).toBe(workingDir);
    expect(agent.env).toMatchObject({ MAESTRO_SESSION_ID: spawned.sessionId, MAESTRO_TASK_IDS: t.id, MAESTRO_PROJECT_ID: pid, MAESTRO_ROLE: 'worker', MAESTRO_STRATEGY: 'simple', MAESTRO_TASK_TITLE: 'loop task', MAESTRO_TASK_PRIORITY: 'medium' });
    expect(JSON.parse(agent.env.MAESTRO_ALL_TASKS)[0].id).toBe(t.id);
    // issue 14: the agent gets the session hooks (register, complete, track-file) and the model, and
    // this CLI first on its PATH
    const argv = agent.argv as string[];
    const pluginDir = argv[argv.indexOf('--plugin-dir') + 1]!;
    expect(pluginDir).toBe(join(root, 'plugins', 'maestro-worker'));
    const hooks = JSON.parse(readFileSync(join(pluginDir, 'hooks', 'hooks.json'), 'utf8')).hooks;
    expect(Object.keys(hooks).sort()).toEqual(['PostToolUse', 'SessionEnd', 'SessionStart']);
    expect(JSON.stringify(hooks.SessionEnd)).toContain('session complete');
    expect(argv[argv.indexOf('--model') + 1]).toMatch(/^(sonnet|opus|haiku)$/);
    // issue 15: --mcp-config names a file that starts this CLI's `maestro mcp` with the session's
    // values (before --model: Claude Code's flag takes a list), and holds no credential
    expect(argv.indexOf('--mcp-config')).toBeGreaterThan(-1);
    expect(argv.indexOf('--mcp-config')).toBeLessThan(argv.indexOf('--model'));
    const mcpFile = argv[argv.indexOf('--mcp-config') + 1]!;
    const mcpServer = JSON.parse(readFileSync(mcpFile, 'utf8')).mcpServers.maestro;
    expect(mcpServer).toMatchObject({ type: 'stdio', command: process.execPath, env: { MAESTRO_SESSION_ID: spawned.sessionId, MAESTRO_PROJECT_ID: pid, MAESTRO_SERVER_URL: h.base } });
    expect(mcpServer.args.at(-1)).toBe('mcp');
    expect(realpathSync(mcpServer.args[0])).toBe(realpathSync(CLI));
    expect(mcpServer.env.MAESTRO_API_KEY ?? '${MAESTRO_API_KEY:-}').toBe('${MAESTRO_API_KEY:-}');
    expect(realpathSync(join(String(agent.env.PATH).split(':')[0]!, 'maestro'))).toBe(realpathSync(CLI));
    const session = (await h.req('GET', `/api/v1/sessions/${spawned.sessionId}`)).body;
    expect(session.status).toBe('running');
    expect(session.timeline.slice(-2).map((e: { type: string; message: string }) => [e.type, e.message])).toEqual([
      ['progress', 'halfway there'],
      ['task_completed', 'all done'],
    ]);
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.sessionStatus).toBe('completed');
    const types = (await h.events(pid)).filter((e) => e.data?.id === t.id && e.type === 'task:updated').map((e) => e.data.sessionStatus);
    expect(types).toEqual(['working', 'working', 'completed']);
    // a WebSocket client watching the project saw the agent's reports live
    await watcher.until(() => watcher.events().filter((e) => e.type === 'session:updated' && e.data.id === spawned.sessionId).length >= 3);
    const seen = watcher.events().filter((e) => e.data?.id === spawned.sessionId || e.data?.id === t.id).map((e) => e.type);
    expect(seen).toEqual(['session:updated', 'task:updated', 'task:updated', 'session:updated', 'task:updated', 'session:updated']);
    await watcher.close();
  });

  it('queue commands drive a queue session through start, complete, fail, skip to empty', async () => {
    const [a, b, c] = [await task(), await task(), await task()];
    const s = (await h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: [a.id, b.id, c.id], strategy: 'queue' })).body.sessionId;
    const q = (...args: string[]) => maestro(['queue', ...args], { MAESTRO_SESSION_ID: s });
    expect((await q('start')).stdout.trim()).toBe(`Started processing task ${a.id}`);
    expect((await q('complete')).stdout.trim()).toBe(`Completed ${a.id}. Next: ${b.id}`);
    await q('start');
    expect((await q('fail', '--reason', 'nope')).stdout.trim()).toBe(`Failed ${b.id}. Next: ${c.id}`);
    expect((await q('skip')).stdout.trim()).toBe(`Skipped ${c.id}. Queue is empty.`);
    expect((await q('start', '--no-wait')).stdout.trim()).toBe('Queue is empty \u2014 no items to process');
    const d = await task();
    expect((await q('push', d.id)).status).toBe(0);
    expect((await q('top')).stdout.trim()).toBe(`Next: ${d.id} [queued]`);
    const bad = await q('complete');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('No item currently being processed');
    const items = JSON.parse((await maestro(['--json', 'queue', 'list'], { MAESTRO_SESSION_ID: s })).stdout).data;
    expect(items.stats).toEqual({ total: 4, queued: 1, processing: 0, completed: 1, failed: 1, skipped: 1 });
  });

  it('project, task and session commands work against the API, with 2 as the exit code for 404', async () => {
    const created = JSON.parse((await maestro(['--json', 'project', 'create', 'from cli', '--dir', '/tmp/x'])).stdout).data;
    expect(created).toMatchObject({ name: 'from cli', workingDir: '/tmp/x' });
    const t = JSON.parse((await maestro(['--json', 'task', 'create', 'cli made', '--project', created.id, '--priority', 'high'])).stdout).data;
    expect(t).toMatchObject({ title: 'cli made', priority: 'high' });
    expect((await maestro(['task', 'list', '--project', created.id])).stdout).toContain('cli made');
    expect(JSON.parse((await maestro(['--json', 'task', 'complete', t.id])).stdout).data.status).toBe('completed');
    expect((await maestro(['task', 'get', 'task_nope'])).status).toBe(2);
    expect((await maestro(['task', 'create', '', '--project', created.id])).status).toBe(1);
    expect(existsSync(CLI)).toBe(true);
  });
});
