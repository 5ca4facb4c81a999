import { z } from 'zod';

/**
 * Response shapes of the identity routes (contract 00 "Identity and access"; routes/auth.ts), for the
 * OpenAPI document. The identity store (shared/auth/identity-store.ts) renders them; these describe
 * them. Times are epoch milliseconds.
 */
const ms = z.number().int().describe('epoch milliseconds');
const role = z.enum(['owner', 'editor', 'viewer']);

/** A user as the API shows it (`PublicUser`: never the password hash). */
export const UserSchema = z.object({ id: z.string(), email: z.string(), name: z.string(), admin: z.boolean(), createdAt: ms });

/** What `/auth/refresh` answers: a new access token (JWT) and the rotated refresh token. */
export const TokensSchema = z.object({
  accessToken: z.string().describe('JWT, sent as Authorization: Bearer'),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().describe('seconds the access token is valid'),
  refreshToken: z.string(),
});

/** What `/auth/register` (201) and `/auth/login` answer: the user and its tokens. */
export const LoginSchema = TokensSchema.extend({ user: UserSchema });

/** `GET /auth/me`: the caller, its visible project roles and the credential it used. */
export const MeSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  admin: z.boolean(),
  roles: z.record(z.string(), role).describe('projectId → role, as far as the credential reaches'),
  credential: z.enum(['user', 'apiKey']),
  projectId: z.string().nullable().describe('the project a scoped key is limited to'),
  sessionId: z.string().nullable().describe('the session of a session key'),
  readOnly: z.boolean(),
});

/** An API key as listed (`PublicApiKey`: never its secret). */
export const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  projectId: z.string().nullable(),
  sessionId: z.string().nullable().describe('set for a session key (contract 00 "Spawn")'),
  readOnly: z.boolean(),
  createdAt: ms,
  revokedAt: ms.nullable(),
  lastUsedAt: ms.nullable(),
  expiresAt: ms.nullable(),
});

/** A key just created: the listed fields and the secret `key` (`mk_<id>.<secret>`), shown once. */
export const NewApiKeySchema = ApiKeySchema.extend({ key: z.string().describe('mk_<id>.<secret>; shown once, not in an idempotent replay') });

/** A member or pending invitation of a project (the same shape for both, item 12). */
export const MemberSchema = z.object({ email: z.string(), role });

/** `DELETE /projects/:id/members/:userId`. */
export const MemberRemovedSchema = z.object({ success: z.literal(true), email: z.string() });

/** `POST /auth/ws-ticket`: a single-use WebSocket ticket. */
export const WsTicketSchema = z.object({ ticket: z.string(), expiresIn: z.number().int().describe('seconds') });

/** `POST /auth/logout`. */
export const SuccessSchema = z.object({ success: z.literal(true) });
