import type { Command } from 'commander';
import type { Json } from '../api-client.js';
import { enc, type CliContext } from '../context.js';
import { localError, output, printError, printResult } from '../output.js';
import { registerSession } from '../agent-commands.js';

const sessionLine = (s: Json) => `${s.id}  [${s.status}]  ${s.name}  tasks: ${(s.taskIds ?? []).join(',') || '-'}`;

/** The five workflow steps the original puts in a spawn's context for its own skills (contract 09 §3). */
const WORKFLOW_STEPS: Record<string, string[]> = {
  'maestro-worker': [
    'Run `maestro whoami` to read your assignment',
    'Run `maestro task get <id>` for the task details',
    'Implement the task, reporting progress with `maestro report progress "<message>"`',
    'Verify your work (tests, checks)',
    'Finish with `maestro report complete "<summary>"`',
  ],
  'maestro-orchestrator': [
    'Run `maestro whoami` to read your assignment',
    'Break the task into subtasks with `maestro task create --parent <id>`',
    'Spawn a worker per subtask with `maestro session spawn --task <id>`',
    'Follow the workers with `maestro task tree` and `maestro session list`',
    'Finish with `maestro report complete "<summary>"` when every subtask is done',
  ],
};

/**
 * `maestro session …` (contract 09 §3): list (`--task`, the project in context), info (default: the
 * session in context; `get <id>` is an alias that needs an id), register / complete (the SessionStart /
 * SessionEnd hooks: exit 0 whatever happens, but for a missing MAESTRO_SESSION_ID on register), spawn
 * (the original's request body; with `--json` a failure is printed on stderr and exits 0, as the
 * original).
 */
export function registerSessionCommands(program: Command, ctx: CliContext): void {
  const session = program.command('session').description('sessions');
  session
    .command('list')
    .description('list sessions of the project or a task')
    .option('--task <id>', 'sessions of this task')
    .action(async (o: { task?: string }) => {
      const q = new URLSearchParams();
      if (o.task) q.set('taskId', o.task);
      const p = ctx.projectOrNone();
      if (p) q.set('projectId', p);
      printResult(await ctx.api().get(`/sessions${q.size ? `?${q}` : ''}`), (v) => v.map(sessionLine).join('\n') || '(no sessions)');
    });
  session
    .command('info [id]')
    .alias('get')
    .description('show a session (default: this session)')
    .action(async (id: string | undefined) => printResult(await ctx.api().get(`/sessions/${enc(id ?? ctx.session())}`), sessionLine));
  session
    .command('register')
    .description('SessionStart hook: mark this session running (or create it)')
    .action(async () => {
      const sid = ctx.session();
      try {
        const how = await registerSession(ctx.api(), ctx.env);
        process.stdout.write(`[session:register] Session ${sid} ${how === 'created' ? 'created' : 'marked running'}\n`);
      } catch (err) {
        process.stderr.write(`[session:register] Failed: ${(err as Error).message}\n`);
      }
    });
  session
    .command('complete')
    .description('SessionEnd hook: mark this session completed')
    .action(async () => {
      try {
        await ctx.api().patch(`/sessions/${enc(ctx.session())}`, { status: 'completed', completedAt: Date.now() });
      } catch (err) {
        process.stderr.write(`[session:complete] Failed: ${(err as Error).message}\n`);
      }
    });
  session
    .command('spawn')
    .description('spawn a session for a task')
    .requiredOption('--task <id>', 'the task')
    .option('--skill <skill>', 'skill (maestro-orchestrator spawns an orchestrator)', 'maestro-worker')
    .option('--name <name>', 'session name')
    .option('--reason <text>', 'why')
    .option('--include-related', 'add the task\'s dependencies to the context')
    .action(async (o: { task: string; skill: string; name?: string; reason?: string; includeRelated?: boolean }) => {
      try {
        if (!/^[a-zA-Z0-9_-]+$/.test(o.task)) throw localError('invalid_request', `Invalid task ID: ${o.task}`);
        const api = ctx.api();
        const t = await api.get(`/tasks/${enc(o.task)}`);
        const related: Json[] = [];
        if (o.includeRelated) {
          for (const dep of (t.dependencies ?? []) as string[]) {
            const d = await api.get(`/tasks/${enc(dep)}`).catch(() => undefined);
            if (d) related.push(d);
          }
        }
        const role = o.skill === 'maestro-orchestrator' ? 'orchestrator' : 'worker';
        const label = o.skill === 'maestro-orchestrator' ? 'Orchestrator' : o.skill === 'maestro-worker' ? 'Worker' : o.skill;
        const sid = ctx.env.MAESTRO_SESSION_ID;
        const steps = WORKFLOW_STEPS[o.skill];
        const r = await api.post('/sessions/spawn', {
          projectId: t.projectId,
          taskIds: [o.task],
          role,
          // from inside a session, as the original; from a plain terminal (no session), as the UI
          spawnSource: sid ? 'session' : 'ui',
          ...(sid ? { sessionId: sid } : {}),
          skills: [o.skill],
          sessionName: o.name ?? `${label}: ${String(t.title).substring(0, 30)}...`,
          context: {
            primaryTask: { ...t, acceptanceCriteria: [], technicalNotes: '', estimatedComplexity: 'medium' },
            ...(related.length ? { relatedTasks: related } : {}),
            ...(steps ? { workflowSteps: steps } : {}),
            initialCommands: ['maestro whoami', `maestro task get ${o.task}`, ...(role === 'worker' ? [`maestro task start ${o.task}`] : [])],
            reason: o.reason ?? `Execute task: ${t.title}`,
          },
        });
        printResult(r, (x) => `Spawned ${x.sessionId}`);
      } catch (err) {
        if (!output.json) throw err;
        // the original: with --json a failed spawn goes to stderr and exits 0
        printError(err, ctx.server, true);
      }
    });
}
