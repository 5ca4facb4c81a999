import { readFileSync } from 'node:fs';

/** This package's version (package.json `version`): `maestro --version` and the MCP server's `initialize` answer. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
