import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestSchema, type Manifest } from '../shared/spawn/manifest.js';
import { isReportKind, reportToSession, REPORTS } from '../shared/agent-report.js';
import { mcpConfig } from '../mcp/agent-config.js';
import { ApiClient, CliError } from './api-client.js';
import { CLI_ENTRY } from './cli-entry.js';

/** The current session id (MAESTRO_SESSION_ID), required by agent commands. */
export function sessionId(env: NodeJS.ProcessEnv = process.env): string {
  const sid = env.MAESTRO_SESSION_ID;
  if (!sid) throw new CliError('No session context. MAESTRO_SESSION_ID is not set: run this inside a Maestro session', 0, 'no_session');
  return sid;
}

/**
 * Reads the session's manifest: the file at MAESTRO_MANIFEST_PATH when it exists, else
 * `GET /sessions/:id/manifest` (a terminal on another machine than the worker). Validated against the
 * manifest schema (contract 04: an invalid manifest aborts `init`).
 */
export async function readManifest(api: ApiClient, env: NodeJS.ProcessEnv = process.env): Promise<Manifest> {
  let raw: unknown;
  const path = env.MAESTRO_MANIFEST_PATH;
  if (path) {
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`Cannot read manifest ${path}: ${(err as Error).message}`);
    }
  }
  if (raw === undefined) raw = await api.get(`/sessions/${encodeURIComponent(sessionId(env))}/manifest`);
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CliError(`Invalid manifest: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/**
 * The session's own key for the agent (contract 00 "Spawn"): MAESTRO_API_KEY when the terminal has one
 * (e.g. from the spawn response), else one minted now with this machine's credential
 * (`POST /sessions/:id/api-key`; the credentials file or the caller's key). Undefined when the server
 * runs without authentication (it answers 403 "Authentication is disabled") or 401 (no credential
 * here: the agent's calls will say so).
 */
export async function sessionKey(api: ApiClient, sid: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.MAESTRO_API_KEY) return env.MAESTRO_API_KEY;
  try {
    const minted = await api.post<{ key?: string }>(`/sessions/${encodeURIComponent(sid)}/api-key`, {});
    return minted.key;
  } catch (err) {
    if (err instanceof CliError && (err.status === 401 || err.status === 403)) {
      if (!/disabled/i.test(err.message)) process.stderr.write(`warning: no session key (${err.message}); the agent uses this machine's credential, if any\n`);
      return undefined;
    }
    throw err;
  }
}

/** This package's root (dist/cli/agent-commands.js → ../..): where `plugins/` lives. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A directory holding a `maestro` link to this CLI, put first on the agent's PATH: the commands its
 * prompt and skills name (`maestro report …`) run this CLI, never another `maestro` on PATH. The
 * agent's MCP configuration (`mcpConfigFile`) is written there too.
 */
async function cliShimDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'maestro-cli-'));
  await symlink(CLI_ENTRY, join(dir, 'maestro'));
  return dir;
}

/**
 * Writes `<dir>/mcp.json`, the MCP configuration that starts this CLI's `maestro mcp` with the agent's
 * session environment (contract 08 "MCP"; mcp/agent-config.ts: the session's values, the key only as
 * a `${MAESTRO_API_KEY:-}` reference, so the file holds no credential; mode 0600 all the same).
 */
async function mcpConfigFile(dir: string, agentEnv: NodeJS.ProcessEnv): Promise<string> {
  const file = join(dir, 'mcp.json');
  await writeFile(file, JSON.stringify(mcpConfig(process.execPath, CLI_ENTRY, agentEnv), null, 2) + '\n', { mode: 0o600 });
  return file;
}

/**
 * The agent's command line (contract 09 §4): `--plugin-dir <package>/plugins/maestro-<role>` (its hooks
 * run `maestro session register` at SessionStart, `session complete` at SessionEnd and, for workers,
 * `track-file` after Write|Edit), a `--plugin-dir ~/.skills/<skill>` per manifest skill that exists,
 * `--mcp-config <file>` when given (Claude Code's flag: the `maestro` MCP server, contract 08; before
 * `--model`, since that flag takes a list), `--model <session.model>`, `--max-turns <n>` when set,
 * then the prompt.
 */
export function agentArgs(manifest: Manifest, home = homedir(), mcpConfigPath?: string): string[] {
  const args = ['--plugin-dir', join(PACKAGE_ROOT, 'plugins', `maestro-${manifest.role}`)];
  for (const skill of manifest.skills ?? []) {
    const dir = join(home, '.skills', skill);
    if (existsSync(dir)) args.push('--plugin-dir', dir);
  }
  if (mcpConfigPath) args.push('--mcp-config', mcpConfigPath);
  args.push('--model', manifest.session.model);
  if (manifest.session.maxTurns !== undefined) args.push('--max-turns', String(manifest.session.maxTurns));
  args.push('Run `maestro whoami` to understand your assignment and begin working.');
  return args;
}

/**
 * `maestro worker init` / `maestro orchestrator init` (contract 04 "What happens after the terminal
 * starts", 09 §3): the session is MAESTRO_SESSION_ID, or a new `session-<ms>-<8 hex>`; gets the
 * session's own key (see `sessionKey`), reads the manifest (it must be valid and of this role, else
 * exit 1), marks the session `running` (worker only) and each task `sessionStatus: working` (errors
 * only warned), then runs MAESTRO_AGENT_CMD (default `claude`; split on spaces, no shell) with
 * `agentArgs` in the project's working directory with the session environment (MAESTRO_API_KEY = the
 * session key; this CLI first on PATH; `--mcp-config` naming the `maestro mcp` server), passing its
 * exit status through.
 */
export async function init(machine: ApiClient, role: 'worker' | 'orchestrator', env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const sid = env.MAESTRO_SESSION_ID || `session-${Date.now()}-${randomBytes(4).toString('hex')}`;
  env = { ...env, MAESTRO_SESSION_ID: sid };
  const key = await sessionKey(machine, sid, env);
  const api = key ? new ApiClient(machine.base, { ...env, MAESTRO_API_KEY: key }) : machine;
  const manifest = await readManifest(api, env);
  if (manifest.role !== role) throw new CliError(`This manifest is for a ${manifest.role}, not a ${role}: run \`maestro ${manifest.role} init\``, 0, 'invalid_manifest');
  if (role === 'worker') {
    await api.patch(`/sessions/${encodeURIComponent(sid)}`, { status: 'running' }).catch((e: Error) => process.stderr.write(`warning: ${e.message}\n`));
  }
  for (const t of manifest.tasks) {
    await api
      .patch(`/tasks/${encodeURIComponent(t.id)}`, { sessionStatus: 'working', updateSource: 'session', sessionId: sid })
      .catch((e: Error) => process.stderr.write(`warning: task ${t.id}: ${e.message}\n`));
  }
  const first = manifest.tasks[0]!;
  const shimDir = await cliShimDir();
  const agentEnv: NodeJS.ProcessEnv = {
    ...env,
    PATH: `${shimDir}${delimiter}${env.PATH ?? ''}`,
    MAESTRO_SESSION_ID: sid,
    MAESTRO_TASK_IDS: manifest.tasks.map((t) => t.id).join(','),
    MAESTRO_PROJECT_ID: first.projectId,
    MAESTRO_ROLE: manifest.role,
    MAESTRO_STRATEGY: manifest.strategy ?? 'simple',
    MAESTRO_SERVER_URL: env.MAESTRO_SERVER_URL ?? api.base,
    // the server this session's key is for: ahead of MAESTRO_SERVER_URL, and a project's .env never
    // overrides a variable already set (env-files.ts), so the agent's CLI calls go nowhere else
    MAESTRO_API_URL: api.base,
    MAESTRO_TASK_TITLE: first.title,
    MAESTRO_TASK_PRIORITY: first.priority ?? 'medium',
    MAESTRO_ALL_TASKS: JSON.stringify(manifest.tasks),
    ...(key ? { MAESTRO_API_KEY: key } : {}),
  };
  if (env.MAESTRO_MANIFEST_PATH) agentEnv.MAESTRO_MANIFEST_PATH = env.MAESTRO_MANIFEST_PATH;
  if (first.acceptanceCriteria.length) agentEnv.MAESTRO_TASK_ACCEPTANCE = JSON.stringify(first.acceptanceCriteria);
  if (first.dependencies?.length) agentEnv.MAESTRO_TASK_DEPENDENCIES = JSON.stringify(first.dependencies);
  const [cmd, ...args] = (env.MAESTRO_AGENT_CMD || 'claude').split(/\s+/).filter(Boolean);
  args.push(...agentArgs(manifest, homedir(), await mcpConfigFile(shimDir, agentEnv)));
  const cwd = manifest.session.workingDirectory || process.cwd();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { cwd, env: agentEnv, stdio: 'inherit' });
    child.once('error', (err) => reject(new CliError(`Cannot start the agent '${cmd}': ${err.message}`)));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}


/**
 * `maestro report <sub> <message> [--task a,b]` (contract 02): with tasks, per task PATCH
 * {sessionStatus, updateSource:'session', sessionId} then a timeline entry with taskId; without, one
 * timeline entry; `complete` without tasks also marks the session completed. The steps are
 * `reportToSession` (shared with the MCP tools), on the original's `/api` paths.
 */
export async function report(api: ApiClient, sub: string, message: string, tasks: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ sessionCompleted: boolean }> {
  if (!isReportKind(sub)) throw new CliError(`Unknown report '${sub}': use ${Object.keys(REPORTS).join(', ')}`);
  return reportToSession(api, sessionId(env), sub, message, tasks);
}

/**
 * `maestro session register` (SessionStart hook, contract 02, 09 §3): marks the session `running`, or
 * creates it when it cannot be read. Returns which it did.
 */
export async function registerSession(api: ApiClient, env: NodeJS.ProcessEnv = process.env): Promise<'running' | 'created'> {
  const sid = sessionId(env);
  try {
    await api.get(`/sessions/${encodeURIComponent(sid)}`);
    await api.patch(`/sessions/${encodeURIComponent(sid)}`, { status: 'running' });
    return 'running';
  } catch {
    const role = env.MAESTRO_ROLE || 'worker';
    await api.post('/sessions', {
      id: sid,
      projectId: env.MAESTRO_PROJECT_ID,
      taskIds: (env.MAESTRO_TASK_IDS ?? '').split(',').filter(Boolean),
      name: `${role}: ${sid.slice(0, 16)}`,
      status: 'running',
      strategy: env.MAESTRO_STRATEGY || 'simple',
      metadata: { role },
    });
    return 'created';
  }
}
