import type { Command } from 'commander';
import { commaList, type CliContext } from '../context.js';
import { printResult } from '../output.js';
import { REPORTS } from '../../shared/agent-report.js';
import { report } from '../agent-commands.js';

/**
 * `maestro report progress|complete|blocked|error|needs-input <message> [--task ids]` and the
 * deprecated `maestro update <message>` / `update:<kind> <message>` (contract 09 §3): with `--json`
 * `{success:true, subcommand, taskIds, sessionId, sessionStatus?, sessionCompleted}`; the deprecated
 * forms warn on stderr and take no `--task`.
 */
export function registerReportCommands(program: Command, ctx: CliContext): void {
  const run = async (sub: string, message: string, tasks: string[]) => {
    const sessionId = ctx.session();
    const r = await report(ctx.api(), sub, message, tasks, ctx.env);
    printResult(
      { success: true, subcommand: sub, taskIds: tasks, sessionId, ...(tasks.length ? { sessionStatus: REPORTS[sub as keyof typeof REPORTS].sessionStatus } : {}), sessionCompleted: r.sessionCompleted },
      () => `Reported ${sub}${tasks.length ? ` for ${tasks.join(', ')}` : ''}`,
    );
  };
  const reportCmd = program.command('report').description('report from inside a session');
  for (const sub of Object.keys(REPORTS)) {
    reportCmd
      .command(`${sub} <message...>`)
      .description(`report ${sub}`)
      .option('--task <ids>', 'comma-separated task ids')
      .action(async (message: string[], o: { task?: string }) => run(sub, message.join(' '), commaList(o.task)));
  }
  const deprecated = (name: string, sub: string) =>
    program
      .command(`${name} <message...>`, { hidden: true })
      .action(async (message: string[]) => {
        process.stderr.write(`Warning: "maestro ${name}" is deprecated; use "maestro report ${sub}"\n`);
        await run(sub, message.join(' '), []);
      });
  deprecated('update', 'progress');
  for (const sub of Object.keys(REPORTS)) deprecated(`update:${sub}`, sub);
}
