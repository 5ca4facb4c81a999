#!/usr/bin/env node
/**
 * `maestro`: the Maestro CLI (contract 02 "Calls the real CLI makes", 04). Talks to the API over HTTP
 * only. Human output by default, `--json` for scripts; exit code 2 on 404, 1 on other errors.
 */
import { Command } from 'commander';
import { ApiClient, apiBase, CliError, type Json } from './api-client.js';
import { init, readManifest, registerSession, report, REPORTS, sessionId } from './agent-commands.js';
import { manifestGenerate } from './manifest-command.js';
import { backupCreate, backupList, backupRestore, migrate, migrationText } from './admin-commands.js';
import { registerConnect } from './connect/index.js';

const program = new Command();
program
  .name('maestro')
  .description('Maestro CLI: projects, tasks, sessions, queues and agent hooks')
  .option('--server <url>', 'API base URL (else MAESTRO_API_URL, MAESTRO_SERVER_URL, http://localhost:3000)')
  .option('--json', 'print JSON instead of text')
  .showHelpAfterError();

const api = (override?: string) => new ApiClient(apiBase(override ?? program.opts().server));
const json = () => Boolean(program.opts().json);
const enc = encodeURIComponent;

/** Prints a value: JSON with --json, else the text from `human`. */
function out(value: Json, human: (v: Json) => string): void {
  process.stdout.write(json() ? JSON.stringify(value, null, 2) + '\n' : human(value) + '\n');
}
const taskLine = (t: Json) => `${t.id}  [${t.status}${t.sessionStatus ? `/${t.sessionStatus}` : ''}] ${t.priority}  ${t.title}`;
const sessionLine = (s: Json) => `${s.id}  [${s.status}]  ${s.name}  tasks: ${(s.taskIds ?? []).join(',') || '-'}`;
const projectLine = (p: Json) => `${p.id}  ${p.name}  ${p.workingDir || ''}`;
const itemLine = (i: Json) => (i ? `${i.taskId} [${i.status}]` : '(none)');
const projectId = (given?: string) => {
  const id = given || process.env.MAESTRO_PROJECT_ID;
  if (!id) throw new CliError('No project: pass --project or set MAESTRO_PROJECT_ID');
  return id;
};
const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);

/** After a task status change made from inside a session, a timeline note (contract 02). */
async function statusNote(taskId: string, status: string, reason?: string): Promise<void> {
  const sid = process.env.MAESTRO_SESSION_ID;
  if (!sid || !status) return;
  await api().post(`/sessions/${enc(sid)}/timeline`, {
    type: 'task_status_changed',
    message: `Status changed to ${status}${reason ? `: ${reason}` : ''}`,
    taskId,
  });
}

// ── manifest ───────────────────────────────────────────────────────────────────────────────────
const manifest = program.command('manifest').description('agent launch manifests');
manifest
  .command('generate')
  .description('generate a session manifest (reads the project and tasks through the API)')
  .requiredOption('--role <role>', 'worker | orchestrator')
  .requiredOption('--project-id <id>', 'project id')
  .requiredOption('--task-ids <ids>', 'comma-separated task ids')
  .option('--skills <skills>', 'comma-separated skills', 'maestro-worker')
  .option('--strategy <strategy>', 'simple | queue', 'simple')
  .requiredOption('--output <path>', 'where to write the manifest')
  .option('--api-url <url>', 'API base URL')
  .action(async (o) => {
    const m = await manifestGenerate(api(o.apiUrl), o);
    if (json()) out(m, () => '');
  });

// ── agent lifecycle ────────────────────────────────────────────────────────────────────────────
for (const role of ['worker', 'orchestrator'] as const) {
  program
    .command(role)
    .description(`${role} session commands`)
    .command('init')
    .description(`mark the session and tasks, then launch the agent (MAESTRO_AGENT_CMD, default claude)`)
    .action(async () => {
      process.exitCode = await init(api(), role);
    });
}

const reportCmd = program.command('report').description('report progress from inside a session');
for (const sub of Object.keys(REPORTS)) {
  reportCmd
    .command(`${sub} <message...>`)
    .option('--task <ids>', 'comma-separated task ids')
    .action(async (message: string[], o) => {
      await report(api(), sub, message.join(' '), list(o.task));
      if (!json()) process.stdout.write(`Reported ${sub}\n`);
    });
}
// legacy aliases: `maestro update:progress "…"` etc.
for (const sub of Object.keys(REPORTS)) {
  program
    .command(`update:${sub} <message...>`, { hidden: true })
    .option('--task <ids>')
    .action(async (message: string[], o) => report(api(), sub, message.join(' '), list(o.task)));
}

program
  .command('whoami')
  .description('show this session, its role and tasks')
  .action(async () => {
    const m = await readManifest(api());
    out({ sessionId: sessionId(), role: m.role, strategy: m.strategy ?? 'simple', tasks: m.tasks, templateId: m.templateId }, (v) =>
      [`Session: ${v.sessionId}`, `Role: ${v.role} (${v.strategy})`, 'Tasks:', ...v.tasks.map((t: Json) => `  ${t.id}  ${t.title}`)].join('\n'),
    );
  });

program
  .command('track-file <file>')
  .description('record a modified file on the session (PostToolUse hook)')
  .action(async (file: string) => {
    await api().post(`/sessions/${enc(sessionId())}/events`, { type: 'file_modified', data: { file, timestamp: new Date().toISOString() } });
  });

// ── projects ───────────────────────────────────────────────────────────────────────────────────
const project = program.command('project').description('projects');
project.command('list').action(async () => out(await api().get('/projects?limit=1000'), (v) => v.map(projectLine).join('\n') || '(no projects)'));
project.command('get <id>').action(async (id: string) => out(await api().get(`/projects/${enc(id)}`), projectLine));
project
  .command('create <name>')
  .option('--dir <path>', 'working directory', '')
  .option('--desc <text>', 'description', '')
  .action(async (name: string, o) => out(await api().post('/projects', { name, workingDir: o.dir, description: o.desc }), (p) => `Created ${projectLine(p)}`));
project.command('delete <id>').action(async (id: string) => out(await api().delete(`/projects/${enc(id)}`), (r) => `Deleted ${r.id}`));

// ── tasks ──────────────────────────────────────────────────────────────────────────────────────
const task = program.command('task').description('tasks');
task
  .command('list')
  .option('--project <id>')
  .option('--status <status>')
  .option('--parent <id>')
  .action(async (o) => {
    const q = new URLSearchParams({ projectId: projectId(o.project), limit: '1000' });
    if (o.status) q.set('status', o.status);
    if (o.parent) q.set('parentId', o.parent);
    out(await api().get(`/tasks?${q}`), (v) => v.map(taskLine).join('\n') || '(no tasks)');
  });
task.command('get <id>').action(async (id: string) => out(await api().get(`/tasks/${enc(id)}`), (t) => `${taskLine(t)}\n${t.description}`));
task.command('children <id>').action(async (id: string) => out(await api().get(`/tasks/${enc(id)}/children`), (v) => v.map(taskLine).join('\n') || '(no children)'));
task
  .command('create <title>')
  .option('--project <id>')
  .option('--desc <text>', 'description', '')
  .option('--priority <p>', 'low | medium | high', 'medium')
  .option('--parent <id>')
  .action(async (title: string, o) => {
    const body: Json = { projectId: projectId(o.project), title, description: o.desc, priority: o.priority };
    if (o.parent) body.parentId = o.parent;
    out(await api().post('/tasks', body), (t) => `Created ${t.id}: ${t.title}`);
  });
task
  .command('update <id>')
  .option('--status <status>')
  .option('--priority <p>')
  .option('--title <title>')
  .action(async (id: string, o) => {
    const body: Json = {};
    for (const k of ['status', 'priority', 'title']) if (o[k] !== undefined) body[k] = o[k];
    const t = await api().patch(`/tasks/${enc(id)}`, body);
    await statusNote(id, o.status);
    out(t, (x) => `Updated ${taskLine(x)}`);
  });
task.command('complete <id>').action(async (id: string) => {
  const t = await api().patch(`/tasks/${enc(id)}`, { status: 'completed' });
  await statusNote(id, 'completed');
  out(t, (x) => `Completed ${x.id}`);
});
task
  .command('block <id>')
  .option('--reason <text>')
  .action(async (id: string, o) => {
    const t = await api().patch(`/tasks/${enc(id)}`, { status: 'blocked' });
    await statusNote(id, 'blocked', o.reason);
    out(t, (x) => `Blocked ${x.id}`);
  });

// ── sessions ───────────────────────────────────────────────────────────────────────────────────
const session = program.command('session').description('sessions');
session
  .command('list')
  .option('--project <id>')
  .option('--task <id>')
  .action(async (o) => {
    const q = new URLSearchParams({ limit: '1000' });
    if (o.project || process.env.MAESTRO_PROJECT_ID) q.set('projectId', o.project || process.env.MAESTRO_PROJECT_ID);
    if (o.task) q.set('taskId', o.task);
    out(await api().get(`/sessions?${q}`), (v) => v.map(sessionLine).join('\n') || '(no sessions)');
  });
session.command('get <id>').alias('info').action(async (id: string) => out(await api().get(`/sessions/${enc(id)}`), sessionLine));
session.command('register').description('SessionStart hook').action(async () => registerSession(api()));
session
  .command('complete')
  .description('SessionEnd hook')
  .action(async () => {
    await api().patch(`/sessions/${enc(sessionId())}`, { status: 'completed', completedAt: Date.now() });
  });
session
  .command('spawn')
  .requiredOption('--task <id>')
  .option('--skill <skill>', 'skill (maestro-orchestrator spawns an orchestrator)', 'maestro-worker')
  .option('--name <name>', 'session name')
  .option('--reason <text>', 'why', '')
  .action(async (o) => {
    const t = await api().get(`/tasks/${enc(o.task)}`);
    const sid = process.env.MAESTRO_SESSION_ID;
    const r = await api().post('/sessions/spawn', {
      projectId: t.projectId,
      taskIds: [o.task],
      role: o.skill === 'maestro-orchestrator' ? 'orchestrator' : 'worker',
      spawnSource: sid ? 'session' : 'ui',
      sessionId: sid,
      skills: [o.skill],
      sessionName: o.name,
      context: { primaryTask: o.task, initialCommands: [], reason: o.reason },
    });
    out(r, (x) => `Spawned ${x.sessionId}`);
  });

// ── queue ──────────────────────────────────────────────────────────────────────────────────────
const queue = program.command('queue').description("this session's task queue");
const qpath = (op = '') => `/sessions/${enc(sessionId())}/queue${op}`;
queue.command('top').action(async () => out(await api().get(qpath('/top')), (r) => (r.hasMore ? `Next: ${itemLine(r.item)}` : r.message)));
queue.command('list').action(async () => out(await api().get(qpath('/items')), (r) => r.items.map(itemLine).join('\n') || '(empty)'));
queue.command('status').action(async () => out(await api().get(qpath()), (r) => `${r.stats.completed}/${r.stats.total} done; current: ${itemLine(r.queue.items[r.queue.currentIndex])}`));
queue
  .command('start')
  .option('--no-wait', 'return at once when the queue is empty')
  .action(async (o) => {
    const pollMs = Number(process.env.MAESTRO_QUEUE_POLL_MS ?? 10_000);
    const deadline = Date.now() + Number(process.env.MAESTRO_QUEUE_WAIT_MS ?? 30 * 60_000);
    let r = await api().post(qpath('/start'));
    while (r.item === null && o.wait && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, pollMs));
      const top = await api().get(qpath('/top'));
      if (top.hasMore) r = await api().post(qpath('/start'));
    }
    out(r, (x) => x.message);
  });
queue.command('complete').action(async () => out(await api().post(qpath('/complete')), (r) => r.message));
queue
  .command('fail')
  .option('--reason <text>')
  .action(async (o) => out(await api().post(qpath('/fail'), o.reason ? { reason: o.reason } : {}), (r) => r.message));
queue.command('skip').action(async () => out(await api().post(qpath('/skip')), (r) => r.message));
queue.command('push <taskId>').action(async (taskId: string) => out(await api().post(qpath('/push'), { taskId }), (r) => `Queued ${itemLine(r.item)}`));

// ── operator commands (direct Redis access: REDIS_URL, MAESTRO_REDIS_PREFIX) ─────────────────────
const redisOpts = (c: Command) =>
  c.option('--redis <url>', 'Redis URL (else REDIS_URL)').option('--prefix <prefix>', 'key prefix (else MAESTRO_REDIS_PREFIX)').option('--no-progress', 'no progress bar');
const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;
const backup = program.command('backup').description('logical backups of a key prefix (JSON Lines, gzip)');
redisOpts(backup.command('create').description('write a backup file (consistent per project)'))
  .option('--dir <dir>', 'backup directory (else BACKUP_DIR, ~/.maestro/backups)')
  .option('--keep <n>', 'then delete all but the newest n backups of the directory', (v) => Number(v))
  .action(async (o) => out(await backupCreate(o), (r) => `Backup written: ${r.file} (${mib(r.bytes)}, ${r.keys} keys${r.pruned.length ? `, ${r.pruned.length} old removed` : ''})`));
redisOpts(backup.command('list').description('list the backups of a directory, newest first'))
  .option('--dir <dir>', 'backup directory (else BACKUP_DIR)')
  .action(async (o) =>
    out(await backupList(o), (v) => v.map((f: Json) => `${f.name}  ${mib(f.bytes)}  ${new Date(f.createdAt).toISOString()}`).join('\n') || '(no backups)'),
  );
redisOpts(backup.command('restore <file>').description('restore a backup into an empty prefix'))
  .action(async (file: string, o) => out(await backupRestore(file, o), (r) => `Restored ${r.keys} keys into prefix '${r.prefix}'`));
redisOpts(program.command('migrate').description("import an original Maestro server's DATA_DIR (idempotent)"))
  .requiredOption('--from <dir>', 'the original DATA_DIR (projects/, tasks/, sessions/, queues/, templates/)')
  .action(async (o) => out(await migrate(o.from, o) as unknown as Json, (r) => migrationText(r)));

registerConnect(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliError) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`Error: ${(err as Error).message}\n`);
  process.exit(1);
});
