import type { z } from 'zod';
import { ApiKeySchema, LoginSchema, MemberSchema, NewApiKeySchema, TokensSchema, UserSchema } from '../shared/schemas/auth-wire.js';
import { QueueFinishSchema } from '../shared/schemas/queue-wire.js';
import { ManifestSchema } from '../shared/spawn/manifest.js';
import {
  DeletedSchema,
  ErrorSchema,
  ProjectSchema,
  QueueItemSchema,
  QueueStateSchema,
  QueueStatsSchema,
  SessionEventSchema,
  SessionHeadSchema,
  SessionSchema,
  SkillDetailSchema,
  SkillSummarySchema,
  TaskSchema,
  TemplateSchema,
  TimelineEventSchema,
} from '../shared/schemas/wire.js';

/**
 * The named schemas of the OpenAPI document (`#/components/schemas/<name>`): the shapes more than one
 * operation answers with. A route's `ok` names one of these or gives an inline zod schema.
 */
export const COMPONENTS = {
  Project: ProjectSchema,
  Task: TaskSchema,
  Session: SessionSchema,
  SessionHead: SessionHeadSchema,
  SessionEvent: SessionEventSchema,
  TimelineEntry: TimelineEventSchema,
  QueueItem: QueueItemSchema,
  QueueState: QueueStateSchema,
  QueueStats: QueueStatsSchema,
  QueueFinish: QueueFinishSchema,
  Template: TemplateSchema,
  SkillSummary: SkillSummarySchema,
  SkillDetail: SkillDetailSchema,
  User: UserSchema,
  Tokens: TokensSchema,
  Login: LoginSchema,
  ApiKey: ApiKeySchema,
  NewApiKey: NewApiKeySchema,
  Member: MemberSchema,
  Manifest: ManifestSchema,
  Error: ErrorSchema,
  Deleted: DeletedSchema,
} satisfies Record<string, z.ZodType>;

/** A component's name. */
export type ComponentName = keyof typeof COMPONENTS;
