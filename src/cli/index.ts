#!/usr/bin/env node
/**
 * `maestro`: the Maestro CLI, a drop-in for the original's agent-facing commands (contract 09: the same
 * arguments, environment, `--json` envelope `{success, data}`, errors and exit codes), plus this
 * server's operator commands. Talks to the API over HTTP only (operators' backup/migrate: Redis).
 */
import { PACKAGE_VERSION } from '../shared/package-version.js';
import { Command } from 'commander';
import { ApiClient, CliError, type Json } from './api-client.js';
import { CliContext } from './context.js';
import { output, printError, printResult } from './output.js';
import { allowedCommands, deniedMessage, isGuarded } from './permissions.js';
import { manifestGenerate } from './manifest-command.js';
import { backupCreate, backupList, backupRestore, migrate, migrationText, resetKey } from './admin-commands.js';
import { registerProjectCommands } from './commands/project-commands.js';
import { registerTaskCommands } from './commands/task-commands.js';
import { registerSessionCommands } from './commands/session-commands.js';
import { registerQueueCommands } from './commands/queue-commands.js';
import { registerReportCommands } from './commands/report-commands.js';
import { registerLifecycleCommands } from './commands/lifecycle-commands.js';
import { registerSkillCommands } from './commands/skill-commands.js';
import { registerMcpCommands } from './commands/mcp-commands.js';
import { registerConnect } from './connect/index.js';
import { loadEnvFiles } from './env-files.js';

// ./.env and ~/.maestro/config fill in what the environment does not set (contract 09 §2)
loadEnvFiles();

const program = new Command();
program
  .name('maestro')
  .description('Maestro CLI: projects, tasks, sessions, queues and agent hooks')
  .version(PACKAGE_VERSION, '-V, --version')
  .option('--server <url>', 'API base URL (else MAESTRO_API_URL, MAESTRO_SERVER_URL, ~/.maestro/credentials, http://localhost:3000)')
  .option('--project <id>', 'project (else MAESTRO_PROJECT_ID)')
  .option('--json', 'print JSON ({"success":true,"data":…}) instead of text')
  .showHelpAfterError();
const ctx = new CliContext(program);
const out = printResult;

// --json for this run, then the permission guard of a session's manifest (contract 09 §6).
program.hook('preAction', (_program, action) => {
  output.json = Boolean(program.opts().json);
  const parent = action.parent && action.parent !== program ? action.parent.name() : undefined;
  const name = parent ? `${parent}:${action.name()}` : action.name();
  if (!isGuarded(name)) return;
  const m = ctx.manifest();
  if (!m) return;
  const strategy = m.strategy ?? 'simple';
  if (!allowedCommands(m.role, strategy, m.session.allowedCommands).includes(name)) throw new CliError(deniedMessage(name, m.role, strategy), 0, 'permission_denied');
});

registerProjectCommands(program, ctx);
registerTaskCommands(program, ctx);
registerSessionCommands(program, ctx);
registerQueueCommands(program, ctx);
registerReportCommands(program, ctx);
registerLifecycleCommands(program, ctx);
registerSkillCommands(program);
registerMcpCommands(program, ctx);
registerConnect(program);

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
    const api = o.apiUrl ? new ApiClient(o.apiUrl.replace(/\/+$/, '')) : ctx.api();
    const m = await manifestGenerate(api, o);
    if (output.json) out(m, () => '');
  });

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

const admin = program.command('admin').description('operator commands on Redis directly');
redisOpts(admin.command('reset-key').description("mint a new API key for a user (e.g. the first admin whose credentials file could not be written)"))
  .option('--email <email>', 'the user', 'admin@localhost')
  .option('--name <name>', 'a name for the key')
  .option('--write <file>', 'also write the credentials file (mode 0600)')
  .option('--api-url <url>', 'apiUrl written to the file (else SERVER_URL)')
  .action(async (o) => out(await resetKey(o), (r) => `New API key for ${r.email} (${r.apiKeyId}):\n${r.apiKey}${r.file ? `\nwritten to ${r.file}` : ''}`));

program.parseAsync(process.argv).catch((err: unknown) => {
  process.exit(printError(err, ctx.server));
});
