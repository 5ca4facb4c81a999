import { z } from 'zod';
import { ManifestSchema } from '../spawn/manifest.js';
import { SessionSchema } from './wire.js';

/**
 * Answers of the spawn routes (contract 04, contract 00 "Spawn"; api/spawn-service.ts), for the
 * OpenAPI document.
 */

/** 202 (`Prefer: respond-async`, or the wait ran out): the session is created, the manifest follows (`session:spawn`). */
export const SpawnAcceptedSchema = z.object({
  success: z.literal(true),
  sessionId: z.string(),
  manifestPath: z.string(),
  message: z.string(),
  session: SessionSchema,
});

/** 201: the original response plus envVars, initialCommand, cwd, manifest and (to a caller that may mint one) the session's key. */
export const SpawnResultSchema = SpawnAcceptedSchema.extend({
  envVars: z.record(z.string(), z.string()),
  initialCommand: z.string(),
  cwd: z.string(),
  manifest: ManifestSchema,
  apiKey: z.string().optional().describe("the session's own key, shown once"),
  apiKeyId: z.string().optional(),
});
