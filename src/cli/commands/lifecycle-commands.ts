import type { Command } from 'commander';
import { CliError, type Json } from '../api-client.js';
import { enc, type CliContext } from '../context.js';
import { localError, printResult } from '../output.js';
import { allowedCommands, GUARDABLE } from '../permissions.js';
import { renderPrompt } from '../prompt-render.js';
import { init, readManifest } from '../agent-commands.js';
import type { Manifest } from '../../shared/spawn/manifest.js';

/** The JSON of `whoami --json` with a manifest (contract 09 §6). */
function whoamiJson(m: Manifest, sessionId: string | undefined, allowed: string[]) {
  return {
    role: m.role,
    strategy: m.strategy ?? 'simple',
    sessionId: sessionId ?? null,
    projectId: m.tasks[0]!.projectId,
    tasks: m.tasks.map((t) => ({ id: t.id, title: t.title, description: t.description, priority: t.priority ?? 'medium', acceptanceCriteria: t.acceptanceCriteria, status: t.status })),
    permissions: { allowedCommands: allowed, hiddenCommands: GUARDABLE.filter((c) => !allowed.includes(c)) },
    context: m.context ?? null,
  };
}

/** Reads the path of a Claude Code hook's input on stdin (`tool_input.file_path`), if any, within 1 s. */
async function hookFilePath(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', resolve).once('error', resolve);
    setTimeout(resolve, 1000).unref();
  });
  await done;
  try {
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { tool_input?: { file_path?: unknown; path?: unknown } };
    const p = input.tool_input?.file_path ?? input.tool_input?.path;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The agent-facing commands that are not about one resource (contract 09 §3, §6): `whoami` (the
 * rendered prompt of the session's manifest; `--json` its facts; without a manifest the context the
 * environment gives), `commands [--check <cmd>]`, `status` (the project's tasks and sessions counted),
 * `track-file [path]` (PostToolUse hook; the path from the hook's stdin when not given; always exit 0,
 * silent), `worker init` / `orchestrator init`.
 */
export function registerLifecycleCommands(program: Command, ctx: CliContext): void {
  program
    .command('whoami')
    .description('show this session: role, tasks, workflow and the commands it may run')
    .action(async () => {
      let m = ctx.manifest();
      // a terminal on another machine than the worker: the manifest path names the worker's file
      if (!m && ctx.env.MAESTRO_MANIFEST_PATH && ctx.env.MAESTRO_SESSION_ID) m = await readManifest(ctx.api(), ctx.env).catch(() => undefined);
      const sid = ctx.env.MAESTRO_SESSION_ID;
      if (m) {
        const allowed = allowedCommands(m.role, m.strategy ?? 'simple', m.session.allowedCommands);
        printResult(whoamiJson(m, sid, allowed), () => renderPrompt(m, allowed));
        return;
      }
      const facts: Json = { server: ctx.server, ...(ctx.projectOrNone() ? { projectId: ctx.projectOrNone() } : {}), ...(sid ? { sessionId: sid } : {}), taskIds: ctx.taskIds(), strategy: ctx.env.MAESTRO_STRATEGY || 'simple' };
      printResult(facts, (v) => Object.entries(v).map(([k, x]) => `${k}: ${Array.isArray(x) ? x.join(', ') || '-' : x}`).join('\n'));
    });

  program
    .command('commands')
    .description('the commands this session may run')
    .option('--check <command>', 'whether one command (e.g. task:update) is allowed')
    .action(async (o: { check?: string }) => {
      const m = ctx.manifest();
      const role = m?.role ?? 'worker';
      const strategy = m?.strategy ?? 'simple';
      const allowed = m ? allowedCommands(role, strategy, m.session.allowedCommands) : GUARDABLE;
      if (o.check) {
        const name = o.check.replace(' ', ':');
        const ok = allowed.includes(name);
        printResult({ command: name, allowed: ok, role, strategy }, () => `${name}: ${ok ? 'allowed' : `not allowed for ${role} role with ${strategy} strategy`}`);
        return;
      }
      printResult({ role, strategy, allowedCommands: allowed, hiddenCommands: GUARDABLE.filter((c) => !allowed.includes(c)) }, (v) =>
        [`Role: ${v.role} (${v.strategy})`, 'Allowed:', ...v.allowedCommands.map((c: string) => `  maestro ${c.replace(':', ' ')}`)].join('\n'),
      );
    });

  program
    .command('status')
    .description("the project's tasks and sessions at a glance")
    .action(async () => {
      const p = ctx.projectOrNone();
      if (!p) throw localError('no_context', 'No project context. Use --project <id> or set MAESTRO_PROJECT_ID');
      let tasks: Json[];
      let sessions: Json[];
      try {
        const api = ctx.api();
        [tasks, sessions] = await Promise.all([api.get(`/tasks?projectId=${enc(p)}`), api.get(`/sessions?projectId=${enc(p)}`)]);
      } catch (err) {
        if (err instanceof CliError && err.status === 404) throw err;
        throw localError('status_failed', `Failed to get status: ${(err as Error).message}`);
      }
      const count = (xs: Json[], key: string) => {
        const n: Record<string, number> = {};
        for (const x of xs) n[x[key]] = (n[x[key]] ?? 0) + 1;
        return n;
      };
      const data = {
        projectId: p,
        tasks: { total: tasks.length, byStatus: count(tasks, 'status'), byPriority: count(tasks, 'priority') },
        sessions: { total: sessions.length, active: sessions.filter((s) => s.status === 'running' || s.status === 'spawning').length, byStatus: count(sessions, 'status') },
      };
      printResult(data, (v) =>
        [
          `Project: ${v.projectId}`,
          `Tasks: ${v.tasks.total} (${Object.entries(v.tasks.byStatus).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`,
          `Sessions: ${v.sessions.total}, ${v.sessions.active} active`,
        ].join('\n'),
      );
    });

  program
    .command('track-file [path]')
    .description('record a modified file on the session (PostToolUse hook; always exits 0)')
    .action(async (given: string | undefined) => {
      const sid = ctx.env.MAESTRO_SESSION_ID;
      const file = given ?? (await hookFilePath());
      if (!sid || !file) return;
      await ctx
        .api()
        .post(`/sessions/${enc(sid)}/events`, { type: 'file_modified', data: { file, timestamp: new Date().toISOString() } })
        .catch(() => undefined);
    });

  for (const role of ['worker', 'orchestrator'] as const) {
    program
      .command(role)
      .description(`${role} session commands`)
      .command('init')
      .description('mark the session and its tasks, then start the agent (MAESTRO_AGENT_CMD, default claude) with its hooks')
      .action(async () => {
        process.exitCode = await init(ctx.api(), role, ctx.env);
      });
  }
}
