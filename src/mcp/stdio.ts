import type { Readable, Writable } from 'node:stream';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/**
 * Serves `server` over stdio (contract 08, "MCP": `maestro mcp`): newline-delimited JSON-RPC on
 * `input`/`output`, which carry nothing else (logs go to stderr). Resolves when the session ends:
 * the client closes our stdin (what the SDK's `StdioClientTransport.close()` and agents do first) or
 * the server is closed.
 */
export async function serveStdio(server: McpServer, input: Readable = process.stdin, output: Writable = process.stdout): Promise<void> {
  const transport = new StdioServerTransport(input, output);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  // the SDK's transport does not watch for the end of its input
  const end = () => void server.close().catch(() => undefined);
  input.once('end', end).once('close', end);
  await server.connect(transport);
  await closed;
  input.off('end', end).off('close', end);
}
