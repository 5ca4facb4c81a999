import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Config } from '../shared/config.js';
import { NotFoundError } from '../shared/errors.js';
import { LOCAL_ADMIN } from '../shared/principal.js';
import { buildManifest, manifestProblem } from '../shared/spawn/manifest.js';
import type { SpawnJobData } from '../shared/spawn/spawn-queue.js';
import type { Stores } from '../shared/stores/index.js';

/** Failure of a generator; `message` is the `<reason>` of "Failed to generate manifest: <reason>". */
export class ManifestError extends Error {}

/**
 * `MANIFEST_GENERATOR=cli` (contract 04 "Manifest generation via the CLI"): runs
 * `<MAESTRO_CLI_PATH> manifest generate --role … --project-id … --task-ids … --skills … --strategy …
 * --output <path>` with execFile (no shell) and a timeout (MANIFEST_TIMEOUT_MS), the worker's
 * environment plus MAESTRO_SERVER_URL/MAESTRO_API_URL = SERVER_URL (the CLI reads through the API),
 * then reads the file. Failures carry the reason texts of contract 04's outcome table.
 */
export function runCliGenerator(config: Config, job: SpawnJobData, output: string, apiKey?: string): Promise<unknown> {
  const args = [
    'manifest',
    'generate',
    '--role',
    job.role,
    '--project-id',
    job.projectId,
    '--task-ids',
    job.taskIds.join(','),
    '--skills',
    job.skills.join(','),
    '--strategy',
    job.strategy,
    '--output',
    output,
  ];
  const cli = config.MAESTRO_CLI_PATH;
  const [file, argv] = /\.(m?js|cjs)$/.test(cli) ? [process.execPath, [cli, ...args]] : [cli, args];
  const env = { ...process.env, MAESTRO_SERVER_URL: config.SERVER_URL, MAESTRO_API_URL: config.SERVER_URL, ...(apiKey ? { MAESTRO_API_KEY: apiKey } : {}) };
  return new Promise((resolve, reject) => {
    execFile(file, argv, { env, timeout: config.MANIFEST_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        if (e.code === 'ENOENT' || e.code === 'EACCES') {
          return reject(new ManifestError(`Failed to spawn maestro CLI: ${e.message}`));
        }
        if (e.killed) return reject(new ManifestError(`Manifest generation timed out after ${config.MANIFEST_TIMEOUT_MS} ms`));
        if (/command not found|ENOENT/.test(stderr)) {
          return reject(new ManifestError('maestro CLI not found. Please install maestro: npm install -g maestro-cli'));
        }
        return reject(new ManifestError(`Manifest generation failed (exit code ${e.code}): ${stderr}`));
      }
      readFile(output, 'utf8').then(
        (text) => {
          try {
            resolve(JSON.parse(text));
          } catch (parseErr) {
            reject(new ManifestError(`Failed to read manifest: ${(parseErr as Error).message}`));
          }
        },
        (readErr: Error) => reject(new ManifestError(`Failed to read manifest: ${readErr.message}`)),
      );
    });
  });
}

/**
 * `MANIFEST_GENERATOR=server`: the same manifest built in the worker from Redis, no child process
 * (contract 00 "Spawn").
 */
export async function runServerGenerator(stores: Stores, job: SpawnJobData): Promise<unknown> {
  let project: { workingDir?: string };
  try {
    project = JSON.parse((await stores.projects.get(LOCAL_ADMIN, job.projectId)).json);
  } catch (err) {
    if (err instanceof NotFoundError) throw new ManifestError(`Project ${job.projectId} not found`);
    throw err;
  }
  const tasks = [];
  for (const id of job.taskIds) {
    try {
      tasks.push(JSON.parse((await stores.tasks.get(LOCAL_ADMIN, id)).json));
    } catch (err) {
      if (err instanceof NotFoundError) throw new ManifestError(`Task ${id} not found`);
      throw err;
    }
  }
  return buildManifest({ role: job.role, strategy: job.strategy, skills: job.skills, project, tasks });
}

/** Throws ManifestError("Failed to read manifest: invalid manifest: …") unless the manifest is valid. */
export function assertValidManifest(manifest: unknown): void {
  const problem = manifestProblem(manifest);
  if (problem) throw new ManifestError(`Failed to read manifest: invalid manifest: ${problem}`);
}
