import { CLI_ENTRY } from '../cli-entry.js';
import type { Command } from 'commander';
import { CliContext } from '../context.js';
import { printResult } from '../output.js';
import { mcpConfig, unexpanded } from '../../mcp/agent-config.js';
import { createMaestroMcpServer } from '../../mcp/mcp-server.js';
import { serveStdio } from '../../mcp/stdio.js';


/** The session variables `maestro mcp` reads; a value a client passed on unexpanded (`${…}`) counts as unset. */
const SESSION_VARS = ['MAESTRO_API_URL', 'MAESTRO_SERVER_URL', 'MAESTRO_SESSION_ID', 'MAESTRO_PROJECT_ID', 'MAESTRO_API_KEY'] as const;

/** `env` without unexpanded session variables (see mcp/agent-config.ts). */
function sessionEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of SESSION_VARS) if (unexpanded(out[name])) delete out[name];
  return out;
}

/**
 * `maestro mcp` (= `maestro mcp serve`): the MCP server over stdio for the agent of a session
 * (contract 08, "MCP"), acting with the session's environment: the API at `--server` /
 * MAESTRO_API_URL / MAESTRO_SERVER_URL, the credential MAESTRO_API_KEY (the session's key; else the
 * credentials file), and MAESTRO_SESSION_ID / MAESTRO_PROJECT_ID (or `--project`) as the tools'
 * default `sessionId` / `projectId`. Calls go through the CLI's HTTP client (retries, an
 * Idempotency-Key on every POST). stdout carries the protocol only; MAESTRO_DEBUG=true logs to stderr.
 *
 * `maestro mcp config`: prints the configuration that starts it (mcp/agent-config.ts), for
 * `claude --mcp-config <file>` or a `.mcp.json`; `worker init` writes the same for its agent.
 */
export function registerMcpCommands(program: Command, ctx: CliContext): void {
  const mcp = program.command('mcp').description("MCP server for this session's agent (stdio; `mcp config` prints its configuration)");
  mcp
    .command('serve', { isDefault: true })
    .description("run the MCP server over stdio with the session's environment")
    .action(async () => {
      const session = new CliContext(program, sessionEnv(ctx.env));
      const defaults = { sessionId: session.env.MAESTRO_SESSION_ID || undefined, projectId: session.projectOrNone() };
      const api = session.api();
      if (session.env.MAESTRO_DEBUG === 'true') {
        process.stderr.write(`maestro mcp: serving ${api.base} (session ${defaults.sessionId ?? 'none'}, project ${defaults.projectId ?? 'none'})\n`);
      }
      const server = createMaestroMcpServer({ api: { request: (method, path, body) => api.send(method, path, body) }, defaults });
      await serveStdio(server);
      // an idle keep-alive socket must not hold the process once the client is gone
      setTimeout(() => process.exit(0), 1000).unref();
    });
  mcp
    .command('config')
    .description('print the MCP configuration (mcpServers JSON) that starts `maestro mcp` with this environment')
    .action(() => printResult(mcpConfig(process.execPath, CLI_ENTRY, sessionEnv(ctx.env)), (c) => JSON.stringify(c, null, 2)));
}
