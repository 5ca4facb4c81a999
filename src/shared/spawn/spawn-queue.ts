import type { Config } from '../config.js';

/** The BullMQ queue every spawn job goes through (contract 00 "Spawn"). */
export const SPAWN_QUEUE = 'spawn';

/**
 * BullMQ key prefix: inside the Maestro prefix, with one hash tag so that all of the queue's keys
 * share a Redis Cluster slot (BullMQ's requirement for Cluster).
 */
export function bullPrefix(config: Pick<Config, 'MAESTRO_REDIS_PREFIX'>): string {
  return `${config.MAESTRO_REDIS_PREFIX}{bullmq}`;
}

/** Data of a spawn job (job id = session id). */
export interface SpawnJobData {
  sessionId: string;
  projectId: string;
  taskIds: string[];
  role: 'worker' | 'orchestrator';
  strategy: 'simple' | 'queue' | 'tree';
  skills: string[];
  spawnSource: 'ui' | 'session';
  parentSessionId: string | null;
  actorId: string;
}

/** What a finished spawn job returns: the original 201 fields plus the additive ones (contract 04). */
export interface SpawnJobResult {
  sessionId: string;
  manifestPath: string;
  /** The session as rendered in the `session:spawn` event (JSON text). */
  session: string;
  envVars: Record<string, string>;
  command: string;
  cwd: string;
  /** The manifest (JSON text). */
  manifest: string;
}

/** Thrown text prefix for a spawn that failed for good (session marked `failed`). */
export const MANIFEST_FAILURE_PREFIX = 'Failed to generate manifest: ';
