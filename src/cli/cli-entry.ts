import { fileURLToPath } from 'node:url';

/**
 * This CLI's entry file (`dist/cli/index.js`, absolute): what `maestro worker init` links as the
 * agent's `maestro` on PATH and what an agent's MCP configuration starts (`maestro mcp`).
 */
export const CLI_ENTRY = fileURLToPath(new URL('./index.js', import.meta.url));
