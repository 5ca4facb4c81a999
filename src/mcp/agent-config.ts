/**
 * The MCP configuration an agent needs to start Maestro's stdio server (contract 08, "MCP"; the
 * manifest/worker templates point agents to it): the `mcpServers` JSON of Claude Code's
 * `--mcp-config <file>` and `.mcp.json` (other MCP clients read the same shape).
 *
 * `maestro mcp` acts with the session's environment. The agent starts it with its own environment
 * (Claude Code passes it on); `env` additionally names the session's values, so that a client that
 * starts servers with a bare environment still gives them. The session's key is never written: the
 * entry is the reference `${MAESTRO_API_KEY:-}`, which Claude Code expands from the agent's own
 * environment when it starts the server (its documented `${VAR:-default}` expansion in `env`), so
 * the file holds no credential. `maestro mcp` treats a value left unexpanded (a client without
 * expansion) as unset.
 */

/** One server entry of `mcpServers`. */
export interface McpServerEntry {
  type: 'stdio';
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** The whole configuration: `{ mcpServers: { maestro: … } }`. */
export interface McpConfig {
  mcpServers: { maestro: McpServerEntry };
}

/** The session variables copied into `env` when set (none of them is a credential). */
const SESSION_VARS = ['MAESTRO_SERVER_URL', 'MAESTRO_API_URL', 'MAESTRO_SESSION_ID', 'MAESTRO_PROJECT_ID'] as const;

/** The reference to the session key written in place of its value. */
export const API_KEY_REFERENCE = '${MAESTRO_API_KEY:-}';

/**
 * The configuration that starts `<command> <cliPath> mcp` (command: the node binary; cliPath: the
 * absolute path of `dist/cli/index.js`). `env` has the set SESSION_VARS of `env` and, when any is set
 * or a key is in use, the key's reference; without any, no `env` (outside a session).
 */
export function mcpConfig(command: string, cliPath: string, env: NodeJS.ProcessEnv = {}): McpConfig {
  const entry: McpServerEntry = { type: 'stdio', command, args: [cliPath, 'mcp'] };
  const vars: Record<string, string> = {};
  for (const name of SESSION_VARS) if (env[name]) vars[name] = env[name];
  if (Object.keys(vars).length || env.MAESTRO_API_KEY) vars.MAESTRO_API_KEY = API_KEY_REFERENCE;
  if (Object.keys(vars).length) entry.env = vars;
  return { mcpServers: { maestro: entry } };
}

/** True for a value a client passed on without expanding it (`${NAME}` or `${NAME:-…}`). */
export function unexpanded(value: string | undefined): boolean {
  return value !== undefined && /^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$/.test(value);
}
