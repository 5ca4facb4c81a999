import { parseClientMessage, type ClientMessage } from '../../shared/schemas/ws-client-messages.js';

/**
 * What a client of the proxy tells the cluster on its WebSocket, as far as the relay must remember it
 * across an upstream reconnect (contract 00 "Events", contract 03 "Client → server"; read with the
 * server's own schema, src/shared/schemas/ws-client-messages.ts, so that the relay changes its view
 * exactly when the server would):
 *
 * - `{"type":"ping"}` → the server answers `{"type":"pong","timestamp"}`;
 * - `{"type":"subscribe","projectIds"?: string[] | null,"deltas"?: boolean}` narrows the projects
 *   (absent/null = every readable one) and chooses deltas;
 * - `{"type":"resume","since": id | {projectId: id}}` asks for a replay.
 *
 * Anything else (non-JSON, other shapes) is forwarded and otherwise ignored, as the server ignores it.
 */

/** A client frame as the relay reads it: a message the server knows, or `other`. */
export type ClientFrame = ClientMessage | { type: 'other' };

/** Reads one text frame of a client. */
export function readClientFrame(text: string): ClientFrame {
  return parseClientMessage(text) ?? { type: 'other' };
}
