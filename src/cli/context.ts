import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ManifestSchema, type Manifest } from '../shared/spawn/manifest.js';
import { readCredentialsFile } from '../shared/auth/credentials-file.js';
import { ApiClient, apiBase, type SavedCredentials } from './api-client.js';
import { sessionId } from './agent-commands.js';
import { localError } from './output.js';

/**
 * What a command reads from its surroundings (contract 09 §4): the API client for `--server`, the
 * project (`--project`, else MAESTRO_PROJECT_ID), the session (MAESTRO_SESSION_ID), the session's
 * tasks (MAESTRO_TASK_IDS, comma list, empties dropped) and the manifest (MAESTRO_MANIFEST_PATH).
 */
export class CliContext {
  #saved?: SavedCredentials;
  #api?: ApiClient;

  constructor(
    private readonly program: Command,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The credentials file, read once per command. */
  private get saved(): SavedCredentials {
    return (this.#saved ??= readCredentialsFile(this.env));
  }

  /** The API base URL in effect (`--server`, MAESTRO_API_URL, MAESTRO_SERVER_URL, credentials file, default). */
  get server(): string {
    return apiBase(this.program.opts().server as string | undefined, this.env, this.saved);
  }

  /** The command's client of the API (one per command: one ky instance, the credential read once). */
  api(): ApiClient {
    return (this.#api ??= new ApiClient(this.server, this.env, this.saved));
  }

  /** The project in context, or undefined. */
  projectOrNone(): string | undefined {
    return (this.program.opts().project as string | undefined) || this.env.MAESTRO_PROJECT_ID || undefined;
  }

  /** The project in context; a local `no_project` error when there is none. */
  project(): string {
    const p = this.projectOrNone();
    if (!p) throw localError('no_project', 'No project specified. Use --project <id> or set MAESTRO_PROJECT_ID');
    return p;
  }

  /** The session in context; a local `no_session` error when MAESTRO_SESSION_ID is not set. */
  session(): string {
    return sessionId(this.env);
  }

  /** MAESTRO_TASK_IDS as a list. */
  taskIds(): string[] {
    return commaList(this.env.MAESTRO_TASK_IDS);
  }

  /** The manifest at MAESTRO_MANIFEST_PATH when it exists and is valid, else undefined (contract 09 §6). */
  manifest(): Manifest | undefined {
    const path = this.env.MAESTRO_MANIFEST_PATH;
    if (!path) return undefined;
    try {
      const parsed = ManifestSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Encodes a path segment (ids are sent encoded, unlike the original, which sent them as typed). */
export const enc = encodeURIComponent;

/** `a,b, c` → ['a','b','c'] (empties dropped). */
export const commaList = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
