import { z } from 'zod';

/**
 * The agent launch manifest (contract 04 "Manifest JSON"): what `maestro manifest generate` writes and
 * `worker init` / `orchestrator init` accept. The schema is the CLI's (ajv, `additionalProperties:
 * false` at the root, in each task, in `session`, in `context` except `custom`).
 */
const taskData = z
  .object({
    id: z.string(),
    title: z.string(),
    description: z.string(),
    acceptanceCriteria: z.array(z.string()).min(1),
    projectId: z.string(),
    createdAt: z.string(),
    parentId: z.string().nullable().optional(),
    dependencies: z.array(z.string()).optional(),
    priority: z.enum(['low', 'medium', 'high', 'critical']).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    status: z.enum(['todo', 'in_progress', 'completed', 'cancelled', 'blocked']).optional(),
    sessionIds: z.array(z.string()).optional(),
    activeSessionId: z.string().optional(),
  })
  .strict();

export const ManifestSchema = z
  .object({
    manifestVersion: z.string(),
    role: z.enum(['worker', 'orchestrator']),
    tasks: z.array(taskData).min(1),
    session: z
      .object({
        model: z.enum(['sonnet', 'opus', 'haiku']),
        permissionMode: z.enum(['acceptEdits', 'interactive', 'readOnly']),
        thinkingMode: z.enum(['auto', 'interleaved', 'disabled']).optional(),
        maxTurns: z.number().optional(),
        timeout: z.number().optional(),
        workingDirectory: z.string().optional(),
        allowedCommands: z.array(z.string()).optional(),
      })
      .strict(),
    strategy: z.enum(['simple', 'queue']).optional(),
    context: z
      .object({
        codebaseContext: z.record(z.string(), z.unknown()).optional(),
        relatedTasks: z.array(z.record(z.string(), z.unknown())).optional(),
        projectStandards: z.record(z.string(), z.unknown()).optional(),
        custom: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
    skills: z.array(z.string()).optional(),
    templateId: z.string().optional(),
  })
  .strict();

/** A manifest (contract 04). */
export type Manifest = z.output<typeof ManifestSchema>;

/** The project and task fields a manifest is built from. */
export interface ManifestInputs {
  role: 'worker' | 'orchestrator';
  strategy: string;
  skills: string[];
  project: { workingDir?: string };
  tasks: {
    id: string;
    title: string;
    description: string;
    projectId: string;
    createdAt: number;
    parentId?: string | null;
    dependencies?: string[];
    priority?: string;
    metadata?: Record<string, unknown>;
    acceptanceCriteria?: string[];
  }[];
}

/**
 * Builds the manifest exactly as the CLI writes it (contract 04), keys in its order; `skills` as given
 * (the server generator passes `[]` rather than the CLI's `[""]`). Not validated here: see
 * validateManifest (a `tree` strategy or an odd priority fails validation, as with the real CLI).
 */
export function buildManifest(input: ManifestInputs): Record<string, unknown> {
  const manifest: Record<string, unknown> = {
    manifestVersion: '1.0',
    role: input.role,
    tasks: input.tasks.map((t) => {
      const out: Record<string, unknown> = {
        id: t.id,
        title: t.title,
        description: t.description,
        acceptanceCriteria: t.acceptanceCriteria?.length ? t.acceptanceCriteria : ['Task completion as described'],
        projectId: t.projectId,
        createdAt: new Date(t.createdAt).toISOString(),
      };
      if (t.parentId !== undefined) out.parentId = t.parentId;
      if (t.dependencies !== undefined) out.dependencies = t.dependencies;
      if (t.priority !== undefined) out.priority = t.priority;
      if (t.metadata !== undefined) out.metadata = t.metadata;
      return out;
    }),
    session: {
      model: 'sonnet',
      permissionMode: 'acceptEdits',
      thinkingMode: 'auto',
      ...(input.project.workingDir ? { workingDirectory: input.project.workingDir } : {}),
    },
    context: { custom: { taskIds: input.tasks.map((t) => t.id) } },
    skills: input.skills,
    strategy: input.strategy,
  };
  return manifest;
}

/** Validates a manifest against the CLI's schema; returns the error text, or undefined when valid. */
export function manifestProblem(manifest: unknown): string | undefined {
  const r = ManifestSchema.safeParse(manifest);
  if (r.success) return undefined;
  return r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
