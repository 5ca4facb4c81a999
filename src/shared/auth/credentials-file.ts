import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The credentials file (contract 00 "Identity and access"): JSON `{ apiUrl, apiKey, email?, password? }`,
 * written by a server's first start (src/api/bootstrap-admin.ts) or `maestro admin reset-key --write`,
 * read by the CLI and `maestro connect`. It holds a secret: the directory is made 0700, the file 0600.
 */
export interface CredentialsFile {
  /** The server that minted the key; its key is sent to that origin only (cli/api-client.ts `savedKeyFor`). */
  apiUrl?: string;
  apiKey?: string;
  email?: string;
  password?: string;
}

/** The file's path: MAESTRO_CREDENTIALS_FILE, else `~/.maestro/credentials`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.MAESTRO_CREDENTIALS_FILE || join(homedir(), '.maestro', 'credentials');
}

/** The file's contents; `{}` when it is missing, unreadable or not JSON. */
export function readCredentialsFile(env: NodeJS.ProcessEnv = process.env): CredentialsFile {
  try {
    return JSON.parse(readFileSync(credentialsPath(env), 'utf8')) as CredentialsFile;
  } catch {
    return {};
  }
}

/**
 * Writes `data` to `file` (pretty JSON + newline), creating its directory (0700). The file is 0600
 * whether it is new or was there before with wider rights (`writeFile`'s mode applies only to a new
 * file). Rejects with the fs error (EACCES, EROFS, ENOTDIR…).
 */
export async function writeCredentialsFile(file: string, data: CredentialsFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  await chmod(file, 0o600);
}
