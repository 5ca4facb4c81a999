import { z } from 'zod';

const projectIds = z.array(z.string().max(256)).max(1000);
const position = z.union([z.string().max(64), z.record(z.string().max(256), z.string().max(64))]);

/**
 * Messages a WebSocket client may send (contract 03 and 00 "Events"), one zod union:
 * `{"type":"ping"}` → pong; `{"type":"subscribe","projectIds"?:[…],"deltas"?:bool}` narrows the
 * projects (absent/null = every readable one) and, with `deltas: true`, asks for the small append
 * events instead of whole `session:updated`s; `{"type":"resume","since": id | {projectId: id}}` replays.
 * Unknown fields are ignored; anything else is ignored too (the original ignores unknown messages).
 */
export const ClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ping') }),
  z.object({ type: z.literal('subscribe'), projectIds: projectIds.nullable().optional(), deltas: z.boolean().optional() }),
  z.object({ type: z.literal('resume'), since: position }),
]);

/** A parsed client message. */
export type ClientMessage = z.infer<typeof ClientMessage>;

/** Parses one text frame; undefined for non-JSON or a message of no known shape. */
export function parseClientMessage(text: string): ClientMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = ClientMessage.safeParse(raw);
  return r.success ? r.data : undefined;
}
