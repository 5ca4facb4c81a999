import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { CLI, runCli } from '../helpers/cli.js';
import { useHarness } from '../helpers/use-harness.js';
import { freePort } from '../helpers/redis-server.js';

/**
 * Issue 14, part 2: our `maestro` against the original CLI's documented behaviour (contract 09, the
 * recorded expectations there: §2 output and exit codes, §3 commands, §4 environment, §6 the guard),
 * every command a real process against a real API.
 */
// no worker here: a spawn answers 202 at once (SPAWN_WAIT_MS 0)
const h = useHarness({ SPAWN_WAIT_MS: '0' });
let pid: string;
const dir = mkdtempSync(join(tmpdir(), 'maestro-cli-'));
const maestro = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { MAESTRO_API_URL: h.base, MAESTRO_RETRIES: '1', MAESTRO_RETRY_DELAY: '1', MAESTRO_CREDENTIALS_FILE: join(dir, 'none'), HOME: dir, ...env }, 30_000);
const json = (stdout: string) => JSON.parse(stdout) as { success: boolean; data?: any; error?: string; message?: string; details?: any; suggestion?: string };

beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'cli', workingDir: dir })).body.id;
});

describe('output and exit codes (contract 09 §2)', () => {
  it('--json wraps success as {success:true,data}; --version prints the version', async () => {
    const r = await maestro(['project', 'list', '--json']);
    expect(r.status).toBe(0);
    const out = json(r.stdout);
    expect(out.success).toBe(true);
    expect(out.data.map((p: { id: string }) => p.id)).toContain(pid);
    expect(r.stdout).toContain('\n  "success": true'); // 2-space pretty JSON
    const v = await maestro(['--version']);
    expect([v.status, v.stdout.trim()]).toEqual([0, '0.1.0']);
  });

  it('404 → resource_not_found, exit 2, on stdout with --json; on stderr in text', async () => {
    const r = await maestro(['--json', 'task', 'get', 'task_nope']);
    expect(r.status).toBe(2);
    expect(json(r.stdout)).toEqual({ success: false, error: 'resource_not_found', message: "Task with id 'task_nope' not found", details: { status: 404 }, suggestion: 'Use list commands to see available resources' });
    const t = await maestro(['task', 'get', 'task_nope']);
    expect([t.status, t.stdout]).toEqual([2, '']);
    expect(t.stderr).toBe(`\nError: Task with id 'task_nope' not found\n   Details: {"status":404}\n   Use list commands to see available resources\n`);
  });

  it('400 → invalid_request (exit 1) with the errors; connection refused → exit 3', async () => {
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'for 400' })).body;
    const r = await maestro(['--json', 'task', 'update', t.id, '--status', 'nope']);
    expect(r.status).toBe(1);
    expect(json(r.stdout)).toMatchObject({ success: false, error: 'invalid_request', details: { status: 400 } });
    const port = await freePort();
    const refused = await maestro(['--json', 'project', 'list'], { MAESTRO_API_URL: `http://127.0.0.1:${port}` });
    expect(refused.status).toBe(3);
    expect(json(refused.stdout)).toMatchObject({ success: false, error: 'connection_refused', details: { server: `http://127.0.0.1:${port}`, errno: 'ECONNREFUSED' } });
  });

  it('local argument errors go to stderr even with --json (exit 1)', async () => {
    const r = await maestro(['--json', 'task', 'create'], { MAESTRO_PROJECT_ID: pid });
    expect([r.status, r.stdout]).toEqual([1, '']);
    expect(JSON.parse(r.stderr)).toMatchObject({ success: false, error: 'invalid_request', message: 'Task title is required' });
    const noProject = await maestro(['--json', 'task', 'create', 'x']);
    expect(noProject.status).toBe(1);
    expect(JSON.parse(noProject.stderr)).toMatchObject({ error: 'no_project' });
  });
});

describe('commands (contract 09 §3)', () => {
  it('project create -d, task create -t/-d with the global --project, task get from MAESTRO_TASK_IDS, task list filters and one task with its children', async () => {
    const p = json((await maestro(['--json', 'project', 'create', 'made', '-d', '/tmp/made', '--desc', 'about'])).stdout).data;
    expect(p).toMatchObject({ name: 'made', workingDir: '/tmp/made', description: 'about' });
    const t = json((await maestro(['--json', '--project', p.id, 'task', 'create', '-t', 'parent', '-d', 'the parent', '--priority', 'high'])).stdout).data;
    expect(t).toMatchObject({ title: 'parent', description: 'the parent', priority: 'high', projectId: p.id });
    const c = json((await maestro(['--json', 'task', 'create', 'child', '--parent', t.id, '--project', p.id])).stdout).data;
    expect(json((await maestro(['--json', 'task', 'get'], { MAESTRO_TASK_IDS: t.id })).stdout).data.id).toBe(t.id);
    expect((await maestro(['task', 'get'], { MAESTRO_TASK_IDS: `${t.id},${c.id}` })).status).toBe(1);
    const high = json((await maestro(['--json', 'task', 'list', '--priority', 'high'], { MAESTRO_PROJECT_ID: p.id })).stdout).data;
    expect(high.map((x: { id: string }) => x.id)).toEqual([t.id]);
    const one = json((await maestro(['--json', 'task', 'list', t.id])).stdout).data;
    expect([one.task.id, one.children.map((x: { id: string }) => x.id)]).toEqual([t.id, [c.id]]);
    const tree = json((await maestro(['--json', 'task', 'tree', '--project', p.id])).stdout).data;
    expect(tree).toHaveLength(1);
    expect([tree[0].id, tree[0].children.map((x: { id: string }) => x.id)]).toEqual([t.id, [c.id]]);
    const shallow = json((await maestro(['--json', 'task', 'tree', '--project', p.id, '--depth', '1'])).stdout).data;
    expect(shallow[0].children).toEqual([]);
    const deleted = json((await maestro(['--json', 'project', 'delete', 'proj_nope'])).stdout);
    expect(deleted.error).toBe('resource_not_found');
  });

  it('session spawn sends the original\'s body; a task with the largest description accepted can be spawned (the limits agree)', async () => {
    const big = 'd'.repeat(100 * 1024); // MAX_TEXT_BYTES
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'A task with a very long description indeed', description: big, initialPrompt: big })).body;
    expect(t.id).toBeDefined();
    const r = await maestro(['--json', 'session', 'spawn', '--task', t.id]);
    expect(r.status).toBe(0);
    const data = json(r.stdout).data;
    const s = (await h.req('GET', `/api/v1/sessions/${data.sessionId}`)).body;
    expect(s.name).toBe('Worker: A task with a very long descri...');
    const ctx = s.metadata.context;
    expect(ctx.primaryTask).toMatchObject({ id: t.id, description: big, acceptanceCriteria: [], technicalNotes: '', estimatedComplexity: 'medium' });
    expect(ctx.initialCommands).toEqual(['maestro whoami', `maestro task get ${t.id}`, `maestro task start ${t.id}`]);
    expect(ctx.workflowSteps).toHaveLength(5);
    expect(ctx.reason).toBe('Execute task: A task with a very long description indeed');
    // with --json a failed spawn goes to stderr and exits 0 (the original's behaviour)
    const failed = await maestro(['--json', 'session', 'spawn', '--task', 'task_nope']);
    expect([failed.status, failed.stdout]).toEqual([0, '']);
    expect(JSON.parse(failed.stderr)).toMatchObject({ success: false, error: 'resource_not_found' });
  });

  it('status counts the project\'s tasks and sessions; without a project it is no_context (exit 1)', async () => {
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'counted' })).body;
    await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [t.id], status: 'running' });
    const r = json((await maestro(['--json', 'status'], { MAESTRO_PROJECT_ID: pid })).stdout).data;
    expect(r.tasks.total).toBeGreaterThanOrEqual(1);
    expect(r.sessions.active).toBeGreaterThanOrEqual(1);
    const none = await maestro(['--json', 'status']);
    expect(none.status).toBe(1);
    expect(JSON.parse(none.stderr).error).toBe('no_context');
  });

  it('report, the deprecated update forms, task block and session info inside a session; report without one is no_session', async () => {
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'reported' })).body;
    const s = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [t.id] })).body.id;
    const env = { MAESTRO_SESSION_ID: s };
    const r = await maestro(['--json', 'report', 'progress', 'half', 'way', '--task', t.id], env);
    expect(json(r.stdout).data).toEqual({ success: true, subcommand: 'progress', taskIds: [t.id], sessionId: s, sessionStatus: 'working', sessionCompleted: false });
    const u = await maestro(['update:blocked', 'stuck'], env);
    expect(u.status).toBe(0);
    expect(u.stderr).toMatch(/^Warning: "maestro update:blocked" is deprecated/);
    expect((await maestro(['update', 'plain'], env)).status).toBe(0);
    const blocked = json((await maestro(['--json', 'task', 'block', t.id, '--reason', 'waiting'], env)).stdout).data;
    expect(blocked).toEqual({ success: true, taskId: t.id, status: 'blocked', reason: 'waiting' });
    const timeline = (await h.req('GET', `/api/v1/sessions/${s}/timeline`)).body.map((e: { type: string; message: string }) => [e.type, e.message]);
    expect(timeline.slice(-4)).toEqual([
      ['progress', 'half way'],
      ['task_blocked', 'stuck'],
      ['progress', 'plain'],
      ['task_status_changed', 'Status changed to blocked: waiting'],
    ]);
    expect(json((await maestro(['--json', 'session', 'info'], env)).stdout).data.id).toBe(s);
    const done = json((await maestro(['--json', 'report', 'complete', 'all done'], env)).stdout).data;
    expect(done.sessionCompleted).toBe(true);
    expect((await h.req('GET', `/api/v1/sessions/${s}`)).body.status).toBe('completed');
    const outside = await maestro(['--json', 'report', 'progress', 'x']);
    expect(outside.status).toBe(1);
    expect(JSON.parse(outside.stderr).error).toBe('no_session');
  });

  it('the hooks exit 0 whatever happens: track-file (also from a hook\'s stdin), session complete; session register says what it did', async () => {
    const s = (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).body.id;
    const env = { MAESTRO_SESSION_ID: s };
    expect(await maestro(['track-file', 'src/a.ts'], env)).toMatchObject({ status: 0, stdout: '', stderr: '' });
    // as the PostToolUse hook of the plugin runs it: the tool's input on stdin
    const hook = await runCli(['track-file'], { MAESTRO_API_URL: h.base, ...env }, 30_000, { input: JSON.stringify({ tool_name: 'Edit', tool_input: { file_path: 'src/hooked.ts' } }) });
    expect(hook).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const down = { ...env, MAESTRO_API_URL: `http://127.0.0.1:${await freePort()}` };
    expect((await maestro(['track-file', 'src/b.ts'], down)).status).toBe(0);
    expect((await maestro(['session', 'complete'], down)).status).toBe(0);
    expect((await maestro(['track-file', 'x'])).status).toBe(0);
    const events = (await h.req('GET', `/api/v1/sessions/${s}/events`)).body;
    expect(events.map((e: { type: string; data: { file: string } }) => [e.type, e.data.file])).toEqual([
      ['file_modified', 'src/a.ts'],
      ['file_modified', 'src/hooked.ts'],
    ]);
    const reg = await maestro(['session', 'register'], { MAESTRO_SESSION_ID: 'sess-registered-1', MAESTRO_PROJECT_ID: pid });
    expect([reg.status, reg.stdout]).toEqual([0, '[session:register] Session sess-registered-1 created\n']);
    expect((await h.req('GET', '/api/v1/sessions/sess-registered-1')).body.status).toBe('running');
  });
});

describe('a session\'s manifest: whoami, commands and the guard (contract 09 §6)', () => {
  let manifestPath: string;
  let taskId: string;
  beforeAll(async () => {
    taskId = (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 'Write the parser', description: 'Parse the input' })).body.id;
    manifestPath = join(dir, 'manifest.json');
    const g = await maestro(['manifest', 'generate', '--role', 'worker', '--project-id', pid, '--task-ids', taskId, '--output', manifestPath]);
    expect(g.status).toBe(0);
  });

  it('whoami prints the whole rendered prompt (role, task, workflow, commands); --json its facts', async () => {
    const env = { MAESTRO_MANIFEST_PATH: manifestPath, MAESTRO_SESSION_ID: 'sess-w' };
    const text = (await maestro(['whoami'], env)).stdout;
    for (const part of ['# Maestro Worker Session', `**Task ID:** ${taskId}`, '**Title:** Write the parser', 'Parse the input', '## Your Workflow', '## Commands You May Run', '- `maestro report progress`']) {
      expect(text).toContain(part);
    }
    expect(text).not.toMatch(/\$\{[A-Z_]+\}/);
    const facts = json((await maestro(['--json', 'whoami'], env)).stdout).data;
    expect(facts).toMatchObject({ role: 'worker', strategy: 'simple', sessionId: 'sess-w', projectId: pid, tasks: [{ id: taskId, title: 'Write the parser', priority: 'medium' }] });
    expect(facts.permissions.allowedCommands).toContain('report:progress');
    expect(facts.permissions.hiddenCommands).toContain('task:update');
    const bare = json((await maestro(['--json', 'whoami'], { MAESTRO_PROJECT_ID: pid, MAESTRO_TASK_IDS: 'a,b' })).stdout).data;
    expect(bare).toEqual({ server: h.base, projectId: pid, taskIds: ['a', 'b'], strategy: 'simple' });
  });

  it('a worker may not run an orchestrator command: exit 1, nothing sent; commands --check says so', async () => {
    const env = { MAESTRO_MANIFEST_PATH: manifestPath };
    const before = (await h.req('GET', `/api/v1/tasks/${taskId}`)).body.version;
    const denied = await maestro(['task', 'update', taskId, '--status', 'completed'], env);
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain("Command 'task:update' is not allowed for worker role with simple strategy.");
    expect((await h.req('GET', `/api/v1/tasks/${taskId}`)).body.version).toBe(before);
    expect((await maestro(['task', 'get', taskId], env)).status).toBe(0);
    expect(json((await maestro(['--json', 'commands', '--check', 'task:update'], env)).stdout).data).toEqual({ command: 'task:update', allowed: false, role: 'worker', strategy: 'simple' });
    // without a manifest everything is allowed
    expect((await maestro(['task', 'update', taskId, '--priority', 'low'])).status).toBe(0);
  });

  it('skill list / info read ~/.skills; info of a missing skill exits 0', async () => {
    mkdirSync(join(dir, '.skills', 'my-skill'), { recursive: true });
    writeFileSync(join(dir, '.skills', 'my-skill', 'skill.md'), '# My skill\n\nDoes things.\n');
    expect(json((await maestro(['--json', 'skill', 'list'])).stdout).data).toEqual([{ name: 'my-skill', path: join(dir, '.skills', 'my-skill'), description: 'Does things.' }]);
    expect((await maestro(['skill', 'info', 'nope'])).status).toBe(0);
    expect((await maestro(['skill', 'info', 'my-skill'])).stdout).toContain('Does things.');
  });
});

describe('transport (contract 09 §2; issue 14 §3)', () => {
  let server: Server;
  let base: string;
  const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  let mode: 'flaky' | 'hang' | 'bad' | 'forbidden' = 'flaky';
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      const n = seen.filter((s) => s.url === req.url && s.method === req.method).length;
      if (mode === 'hang') return; // never answers
      if (mode === 'forbidden') return void res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":true,"code":"FORBIDDEN","message":"read-only key"}');
      if (mode === 'bad') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"nope"}');
      if (n === 1) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":true,"message":"try again"}');
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"task_1","title":"t"}');
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('retries a POST after a 5xx with the same Idempotency-Key (never a second write); never retries a 4xx', async () => {
    mode = 'flaky';
    seen.length = 0;
    const r = await maestro(['--json', 'task', 'create', 't', '--project', 'p'], { MAESTRO_API_URL: base });
    expect(r.status).toBe(0);
    const posts = seen.filter((s) => s.method === 'POST');
    expect(posts).toHaveLength(2);
    expect(posts[0]!.headers['idempotency-key']).toMatch(/^cli-/);
    expect(posts[1]!.headers['idempotency-key']).toBe(posts[0]!.headers['idempotency-key']);
    mode = 'bad';
    seen.length = 0;
    expect((await maestro(['task', 'create', 't', '--project', 'p'], { MAESTRO_API_URL: base })).status).toBe(1);
    expect(seen).toHaveLength(1);
    mode = 'forbidden';
    const denied = await maestro(['--json', 'task', 'create', 't', '--project', 'p'], { MAESTRO_API_URL: base });
    expect(denied.status).toBe(4);
    expect(json(denied.stdout)).toEqual({ success: false, error: 'permission_denied', message: 'read-only key', details: { status: 403 } });
  });

  it('gives up on a server that never answers (MAESTRO_REQUEST_TIMEOUT_MS), exit 3', async () => {
    mode = 'hang';
    const started = Date.now();
    const r = await maestro(['--json', 'project', 'list'], { MAESTRO_API_URL: base, MAESTRO_REQUEST_TIMEOUT_MS: '300', MAESTRO_RETRIES: '1' });
    expect(r.status).toBe(3);
    expect(json(r.stdout)).toMatchObject({ success: false, error: 'network_error' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reads ./.env, then ~/.maestro/config, neither overriding what is set (contract 09 §2)', async () => {
    const home = mkdtempSync(join(tmpdir(), 'maestro-home-'));
    const cwd = mkdtempSync(join(tmpdir(), 'maestro-cwd-'));
    mkdirSync(join(home, '.maestro'));
    writeFileSync(join(home, '.maestro', 'config'), `MAESTRO_API_URL=${h.base}\nMAESTRO_PROJECT_ID=proj_from_config\n`);
    writeFileSync(join(cwd, '.env'), `MAESTRO_PROJECT_ID=${pid}\n`);
    // the variables the files set are not in the environment at all (runCli would pass this process's)
    const clean = { ...process.env };
    delete clean.MAESTRO_API_URL;
    delete clean.MAESTRO_SERVER_URL;
    delete clean.MAESTRO_PROJECT_ID;
    const r = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, [CLI, '--json', 'status'], { cwd, env: { ...clean, HOME: home, MAESTRO_RETRIES: '1', MAESTRO_CREDENTIALS_FILE: join(home, 'none') }, encoding: 'utf8' }, (err, stdout) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout }),
      );
    });
    expect(r.status).toBe(0); // the server from ~/.maestro/config
    expect(json(r.stdout).data.projectId).toBe(pid); // ./.env before ~/.maestro/config
    // a variable set in the environment wins over both files
    const given = await runCli(['--json', 'status'], { HOME: home, MAESTRO_API_URL: h.base, MAESTRO_PROJECT_ID: 'proj_given', MAESTRO_RETRIES: '1' }, 30_000, { cwd });
    expect(json(given.stdout).data.projectId).toBe('proj_given');
  });

  it('reads apiUrl and apiKey from the credentials file', async () => {
    mode = 'flaky';
    seen.length = 0;
    const file = join(dir, 'credentials');
    writeFileSync(file, JSON.stringify({ apiUrl: `${base}/`, apiKey: 'mk_test' }));
    const r = await maestro(['--json', 'project', 'list'], { MAESTRO_API_URL: '', MAESTRO_CREDENTIALS_FILE: file });
    expect(r.status).toBe(0);
    expect(seen[0]!.headers['x-api-key']).toBe('mk_test');
  });
});
