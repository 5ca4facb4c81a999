/**
 * The head of an event as published by commit.lua. The published message is exactly
 * `{"id":"<stream id>","projectId":<json>,"type":"<name>","timestamp":<ms>,"data":<raw json>}`,
 * so the head is parsed and the (possibly large) data is passed through as text, never re-parsed.
 */
export interface EventHead {
  id: string;
  projectId: string | null;
  type: string;
  /** ms, when the change was committed. */
  timestamp: number;
}

const DATA_MARK = ',"data":';

/** Splits a published message into its head and raw data text; undefined when malformed. */
export function splitPublished(message: string): { head: EventHead; data: string } | undefined {
  const at = message.indexOf(DATA_MARK);
  if (at < 0 || !message.endsWith('}')) return undefined;
  try {
    const head = JSON.parse(message.slice(0, at) + '}') as EventHead;
    return { head, data: message.slice(at + DATA_MARK.length, -1) };
  } catch {
    return undefined;
  }
}

/**
 * Serialises the wire envelope once per replica (contract 03 "Server → client envelope": key order
 * `type, event, data, timestamp`, plus additive `id` and `projectId` from contract 00). `timestamp` is
 * taken at broadcast time, as in the original. `data` is raw JSON text.
 */
export function envelope(head: Pick<EventHead, 'id' | 'projectId' | 'type'>, data: string, now = Date.now()): string {
  const type = JSON.stringify(head.type);
  return `{"type":${type},"event":${type},"data":${data},"timestamp":${now},"id":${JSON.stringify(head.id)},"projectId":${JSON.stringify(head.projectId)}}`;
}
