import type { Command } from 'commander';
import { CliError, type ApiClient, type Json } from '../api-client.js';
import { enc, type CliContext } from '../context.js';
import { localError, printResult } from '../output.js';

const taskLine = (t: Json) => `${t.id}  [${t.status}${t.sessionStatus ? `/${t.sessionStatus}` : ''}] ${t.priority}  ${t.title}`;

/** A task with its descendants (`task tree`): `{...task, children: [...]}`. */
type TaskNode = Json & { children: TaskNode[] };

/**
 * `maestro task …` (contract 09 §3): list (client-side `--status`/`--priority` filters, `--all`), get
 * (id defaults to MAESTRO_TASK_IDS when it names one task), create (`-t,--title`, `-d,--desc`), update,
 * complete, block (each status change noted on the session's timeline when MAESTRO_SESSION_ID is
 * set; a failure there ignored), children (`--recursive`), tree (`--root`, `--depth` 0 = unlimited,
 * `--status`).
 */
export function registerTaskCommands(program: Command, ctx: CliContext): void {
  const task = program.command('task').description('tasks');

  /** After a task status change made from inside a session, a timeline note (failures ignored). */
  const statusNote = async (taskId: string, status: string, reason?: string) => {
    const sid = ctx.env.MAESTRO_SESSION_ID;
    if (!sid) return;
    await ctx
      .api()
      .post(`/sessions/${enc(sid)}/timeline`, { type: 'task_status_changed', message: `Status changed to ${status}${reason ? `: ${reason}` : ''}`, taskId })
      .catch(() => undefined);
  };

  task
    .command('list [taskId]')
    .description('list the project\'s tasks, or one task with its children')
    .option('--status <status>', 'only tasks with this status')
    .option('--priority <priority>', 'only tasks with this priority')
    .option('--parent <id>', 'only children of this task')
    .option('--all', 'tasks of every project')
    .action(async (taskId: string | undefined, o: { status?: string; priority?: string; parent?: string; all?: boolean }) => {
      const api = ctx.api();
      if (taskId) {
        const t = await api.get(`/tasks/${enc(taskId)}`);
        const children = await api.get(`/tasks/${enc(taskId)}/children`).catch(() => []);
        printResult({ task: t, children }, (v) => [taskLine(v.task), ...v.children.map((c: Json) => `  ${taskLine(c)}`)].join('\n'));
        return;
      }
      const p = o.all ? undefined : ctx.projectOrNone();
      const q = new URLSearchParams();
      if (p) q.set('projectId', p);
      if (o.parent) q.set('parentId', o.parent);
      let tasks: Json[] = await api.get(`/tasks${q.size ? `?${q}` : ''}`);
      if (o.status) tasks = tasks.filter((t) => t.status === o.status);
      if (o.priority) tasks = tasks.filter((t) => t.priority === o.priority);
      printResult(tasks, (v) => v.map(taskLine).join('\n') || '(no tasks)');
    });

  task
    .command('get [id]')
    .description('show a task (default: the session\'s task)')
    .action(async (id: string | undefined) => {
      const ids = ctx.taskIds();
      const taskId = id ?? (ids.length === 1 ? ids[0] : undefined);
      if (!taskId) throw localError('invalid_request', 'Task ID is required (or set MAESTRO_TASK_IDS to a single task)');
      printResult(await ctx.api().get(`/tasks/${enc(taskId)}`), (t) => `${taskLine(t)}\n${t.description ?? ''}`);
    });

  task
    .command('create [title]')
    .description('create a task in the project')
    .option('-t, --title <title>', 'title')
    .option('-d, --desc <text>', 'description')
    .option('--priority <p>', 'low | medium | high', 'medium')
    .option('--parent <id>', 'parent task')
    .action(async (titleArg: string | undefined, o: { title?: string; desc?: string; priority: string; parent?: string }) => {
      const title = titleArg ?? o.title;
      if (!title) throw localError('invalid_request', 'Task title is required');
      const body: Json = { projectId: ctx.project(), title, description: o.desc || '', priority: o.priority };
      if (o.parent) body.parentId = o.parent;
      printResult(await ctx.api().post('/tasks', body), (t) => `Created ${t.id}: ${t.title}`);
    });

  task
    .command('update <id>')
    .description('change a task')
    .option('--status <status>')
    .option('--priority <p>')
    .option('--title <title>')
    .action(async (id: string, o: Record<string, string | undefined>) => {
      const body: Json = {};
      for (const k of ['status', 'priority', 'title']) if (o[k] !== undefined) body[k] = o[k];
      const t = await ctx.api().patch(`/tasks/${enc(id)}`, body);
      if (o.status) await statusNote(id, o.status);
      printResult(t, (x) => `Updated ${taskLine(x)}`);
    });

  task
    .command('complete <id>')
    .description('mark a task completed')
    .action(async (id: string) => {
      const t = await ctx.api().patch(`/tasks/${enc(id)}`, { status: 'completed' });
      await statusNote(id, 'completed');
      printResult(t, (x) => `Completed ${x.id}`);
    });

  task
    .command('block <id>')
    .description('mark a task blocked')
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, o: { reason: string }) => {
      await ctx.api().patch(`/tasks/${enc(id)}`, { status: 'blocked' });
      await statusNote(id, 'blocked', o.reason);
      printResult({ success: true, taskId: id, status: 'blocked', reason: o.reason }, () => `Blocked ${id}: ${o.reason}`);
    });

  task
    .command('children <id>')
    .description('list a task\'s children')
    .option('--recursive', 'all descendants, depth first')
    .action(async (id: string, o: { recursive?: boolean }) => {
      const api = ctx.api();
      const direct: Json[] = await api.get(`/tasks/${enc(id)}/children`);
      if (!o.recursive) return printResult(direct, (v) => v.map(taskLine).join('\n') || '(no children)');
      const all: Json[] = [];
      const walk = async (list: Json[]) => {
        for (const c of list) {
          all.push(c);
          await walk(await api.get(`/tasks/${enc(c.id)}/children`));
        }
      };
      await walk(direct);
      printResult(all, (v) => v.map(taskLine).join('\n') || '(no children)');
    });

  // ── coordination (contract 08): this server's additions ───────────────────────────────────────
  task
    .command('ready')
    .description("the project's tasks ready to work on (todo, not blocked, not claimed), by priority")
    .option('--limit <n>', 'at most n', '100')
    .action(async (o: { limit: string }) => {
      const q = new URLSearchParams({ projectId: ctx.project(), limit: String(Number.parseInt(o.limit, 10) || 100) });
      printResult(await ctx.api().get(`/tasks/ready?${q}`), (v) => v.map(taskLine).join('\n') || '(no task is ready)');
    });
  task
    .command('claim [id]')
    .description('claim a task for this session (--next: the first ready one of the project)')
    .option('--next', 'claim the first ready task')
    .option('--lease <ms>', 'lease, ms (default: the server\'s, 10 minutes)')
    .action(async (id: string | undefined, o: { next?: boolean; lease?: string }) => {
      const sessionId = ctx.session();
      const leaseMs = o.lease ? Number.parseInt(o.lease, 10) : undefined;
      if (!id && !o.next) throw localError('invalid_request', 'Task ID is required (or --next)');
      const r = o.next
        ? await ctx.api().post('/tasks/claim-next', { projectId: ctx.project(), sessionId, ...(leaseMs ? { leaseMs } : {}) })
        : await ctx.api().post(`/tasks/${enc(id!)}/claim`, { sessionId, ...(leaseMs ? { leaseMs } : {}) });
      // claim-next answers 204 (no body) when nothing is ready
      printResult(r?.id ? r : null, (t) => (t ? `Claimed ${t.id}: ${t.title} (until ${new Date(t.claimedBy.expiresAt).toISOString()})` : 'No task is ready'));
    });
  task
    .command('renew <id>')
    .description("renew this session's claim of a task")
    .option('--lease <ms>', 'lease, ms')
    .action(async (id: string, o: { lease?: string }) => {
      const r = await ctx.api().post(`/tasks/${enc(id)}/claim/renew`, { sessionId: ctx.session(), ...(o.lease ? { leaseMs: Number.parseInt(o.lease, 10) } : {}) });
      printResult(r, (t) => `Renewed ${t.id} until ${new Date(t.claimedBy.expiresAt).toISOString()}`);
    });
  task
    .command('release <id>')
    .description('release the claim of a task (it goes back to todo unless completed)')
    .action(async (id: string) => {
      const sid = ctx.env.MAESTRO_SESSION_ID;
      printResult(await ctx.api().delete(`/tasks/${enc(id)}/claim${sid ? `?sessionId=${enc(sid)}` : ''}`), (t) => `Released ${t.id} [${t.status}]`);
    });
  task
    .command('depends <id>')
    .description('make a task wait for another (--on), or no longer (--remove)')
    .option('--on <taskId>', 'the task it waits for')
    .option('--remove <taskId>', 'the dependency to remove')
    .action(async (id: string, o: { on?: string; remove?: string }) => {
      if (!o.on === !o.remove) throw localError('invalid_request', 'Give one of --on <taskId> or --remove <taskId>');
      const r = o.on ? await ctx.api().post(`/tasks/${enc(id)}/dependencies`, { taskId: o.on }) : await ctx.api().delete(`/tasks/${enc(id)}/dependencies/${enc(o.remove!)}`);
      printResult(r, (t) => `${t.id} waits for: ${t.dependencies.join(', ') || '(nothing)'}${t.blockedBy.length ? `; blocked by ${t.blockedBy.join(', ')}` : ''}`);
    });

  task
    .command('tree')
    .description('the project\'s task tree')
    .option('--root <id>', 'start at this task')
    .option('--depth <n>', 'levels (0 = unlimited)', '0')
    .option('--status <status>', 'only tasks with this status')
    .action(async (o: { root?: string; depth: string; status?: string }) => {
      const api = ctx.api();
      const depth = Number.parseInt(o.depth, 10) || 0;
      let roots: Json[];
      if (o.root) roots = [await api.get(`/tasks/${enc(o.root)}`)];
      else {
        const p = ctx.projectOrNone();
        if (!p) throw localError('no_project', 'No project specified. Use --project <id>, --root <id> or set MAESTRO_PROJECT_ID');
        roots = ((await api.get(`/tasks?projectId=${enc(p)}`)) as Json[]).filter((t) => !t.parentId);
      }
      const tree = await Promise.all(roots.map((t) => subtree(api, t, 1, depth)));
      const keep = (nodes: TaskNode[]): TaskNode[] =>
        o.status ? nodes.filter((n) => n.status === o.status).map((n) => ({ ...n, children: keep(n.children) })) : nodes;
      printResult(keep(tree), (v) => v.map((n: TaskNode) => `${taskLine(n)}${n.children.length ? `  (${n.children.length} subtasks)` : ''}`).join('\n') || '(no tasks)');
    });
}

/** A task and its descendants down to `maxDepth` levels (0 = all), children fetched concurrently. */
async function subtree(api: ApiClient, t: Json, level: number, maxDepth: number): Promise<TaskNode> {
  if (maxDepth && level >= maxDepth) return { ...t, children: [] };
  let children: Json[] = [];
  try {
    children = await api.get(`/tasks/${enc(t.id)}/children`);
  } catch (err) {
    if (!(err instanceof CliError && err.status === 404)) throw err;
  }
  return { ...t, children: await Promise.all(children.map((c) => subtree(api, c, level + 1, maxDepth))) };
}
