import type { Command } from 'commander';
import type { Json } from '../api-client.js';
import { enc, type CliContext } from '../context.js';
import { printResult } from '../output.js';

const projectLine = (p: Json) => `${p.id}  ${p.name}  ${p.workingDir || ''}`;

/**
 * `maestro project list|get|create|delete` (contract 09 §3): `create <name> [-d,--dir <dir>=cwd]
 * [--desc <d>]` → POST /api/projects `{name, workingDir, description?}`; `delete` answers
 * `{deleted: id}`.
 */
export function registerProjectCommands(program: Command, ctx: CliContext): void {
  const project = program.command('project').description('projects');
  project
    .command('list')
    .description('list projects')
    .action(async () => printResult(await ctx.api().get('/projects'), (v) => v.map(projectLine).join('\n') || '(no projects)'));
  project
    .command('get <id>')
    .description('show a project')
    .action(async (id: string) => printResult(await ctx.api().get(`/projects/${enc(id)}`), (p) => `${projectLine(p)}${p.description ? `\n${p.description}` : ''}`));
  project
    .command('create <name>')
    .description('create a project')
    .option('-d, --dir <path>', 'working directory (default: the current directory)')
    .option('--desc <text>', 'description')
    .action(async (name: string, o: { dir?: string; desc?: string }) => {
      const body: Json = { name, workingDir: o.dir ?? process.cwd() };
      if (o.desc !== undefined) body.description = o.desc;
      printResult(await ctx.api().post('/projects', body), (p) => `Created ${projectLine(p)}`);
    });
  project
    .command('delete <id>')
    .description('delete a project')
    .action(async (id: string) => {
      await ctx.api().delete(`/projects/${enc(id)}`);
      printResult({ deleted: id }, () => `Deleted ${id}`);
    });
}
