import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { buildManifest, manifestProblem } from '../shared/spawn/manifest.js';
import { CliError, type ApiClient, type Json } from './api-client.js';

/** Options of `maestro manifest generate` (contract 04: the original's flags, plus `--api-url`). */
export interface ManifestGenerateOptions {
  role: string;
  projectId: string;
  taskIds: string;
  skills?: string;
  strategy?: string;
  output: string;
}

/**
 * `maestro manifest generate`: reads the project and tasks THROUGH THE API (not DATA_DIR files),
 * builds the manifest of contract 04, validates it against the CLI schema and writes it (pretty JSON,
 * 2 spaces). Errors: `Project <id> not found`, `Task <id> not found`, `Generated manifest failed
 * validation: …` (exit 1). Progress goes to stderr.
 */
export async function manifestGenerate(api: ApiClient, o: ManifestGenerateOptions): Promise<Record<string, unknown>> {
  if (o.role !== 'worker' && o.role !== 'orchestrator') throw new CliError(`Invalid role '${o.role}': must be worker or orchestrator`);
  const taskIds = o.taskIds.split(',').map((t) => t.trim()).filter(Boolean);
  if (taskIds.length === 0) throw new CliError('--task-ids must name at least one task');
  process.stderr.write(`Generating ${o.role} manifest for ${taskIds.length} task(s)\n`);
  const get = async (path: string, what: string): Promise<Json> => {
    try {
      return await api.get(path);
    } catch (err) {
      if (err instanceof CliError && err.status === 404) throw new CliError(`${what} not found`, 404);
      throw err;
    }
  };
  const project = await get(`/projects/${encodeURIComponent(o.projectId)}`, `Project ${o.projectId}`);
  const tasks = [];
  for (const id of taskIds) tasks.push(await get(`/tasks/${encodeURIComponent(id)}`, `Task ${id}`));
  const skills = (o.skills ?? 'maestro-worker').split(',').map((s) => s.trim()).filter(Boolean);
  const manifest = buildManifest({ role: o.role, strategy: o.strategy ?? 'simple', skills, project, tasks });
  const problem = manifestProblem(manifest);
  if (problem) throw new CliError(`Generated manifest failed validation: ${problem}`);
  const out = resolve(o.output);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(manifest, null, 2) + '\n');
  process.stderr.write(`Manifest written to ${out}\n`);
  return manifest;
}
