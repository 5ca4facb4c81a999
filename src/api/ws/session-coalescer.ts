import type { Logger } from '../../shared/logger.js';
import { compareIds } from '../../shared/events/stream-ids.js';

/** The event types that change a session's state as a legacy client sees it (whole `session:updated`). */
export const SESSION_STATE_EVENTS = new Set(['session:updated', 'session:timeline_added', 'session:event_added']);

/** The session id at the head of a session event's data (`{"id":…` or `{"sessionId":…`), or undefined. */
export function sessionOfEvent(data: string): string | undefined {
  const m = /^\{"(?:id|sessionId)":("(?:[^"\\]|\\.)*")/.exec(data);
  return m ? (JSON.parse(m[1]!) as string) : undefined;
}

interface Pending {
  pid: string;
  sid: string;
  /** The newest session event this replica has seen for the session (stream id). */
  latestId: string;
  /** When the last whole session was sent, ms. */
  sentAt: number;
  timer?: NodeJS.Timeout;
  rendering: boolean;
  /** An event arrived while rendering: another send is due after the window. */
  again: boolean;
}

/** What the coalescer needs: how to render a whole session and how to hand it to the legacy clients. */
export interface CoalescerDeps {
  /** At most one send per session per this many ms (SESSION_UPDATE_COALESCE_MS; 0 = every event). */
  windowMs: number;
  /** The whole session (document + every entry of its lists) as JSON text, or undefined when it is gone. */
  render(pid: string, sid: string): Promise<string | undefined>;
  /** Sends `data` as a `session:updated` event with stream id `id` to every legacy client of `pid`. */
  deliver(pid: string, id: string, data: string): void;
  logger: Logger;
}

/**
 * Whole `session:updated` events for the clients that did not ask for deltas (the original UI
 * replaces its session with that event's data; contract 00 "Events"): the session events a replica
 * sees (`session:updated`, `…_timeline_added`, `…_event_added`) mark their session touched; a touched
 * session is rendered once per replica — never once per client — and sent at once if none was sent
 * for it in the last `windowMs`, else once at the end of that window with whatever happened
 * meanwhile. So a session appended to 100 times a second costs a legacy watcher's replica at most
 * 1000 / windowMs renders a second, each read in bounded chunks (SessionStore `sessionWhole`). The
 * event carries the id of the newest session event it includes.
 */
export class SessionCoalescer {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly d: CoalescerDeps) {}

  /**
   * A session event `eventId` of session `sid` in project `pid` reached this replica. Returns the
   * send's promise when the session is rendered and sent at once (none was sent within the window),
   * so the caller can keep the project's later events behind it; undefined when it is due later.
   */
  touched(pid: string, sid: string, eventId: string, now = Date.now()): Promise<void> | undefined {
    const key = `${pid}\u0000${sid}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { pid, sid, latestId: eventId, sentAt: 0, rendering: false, again: false };
      this.pending.set(key, p);
    } else if (compareIds(eventId, p.latestId) > 0) p.latestId = eventId;
    if (p.rendering) {
      p.again = true;
      return undefined;
    }
    if (p.timer) return undefined;
    const wait = p.sentAt + this.d.windowMs - now;
    if (wait <= 0) return this.flush(key, p);
    p.timer = setTimeout(() => void this.flush(key, p!), wait);
    p.timer.unref();
    return undefined;
  }

  private async flush(key: string, p: Pending): Promise<void> {
    p.timer = undefined;
    p.rendering = true;
    p.again = false;
    p.sentAt = Date.now();
    const id = p.latestId;
    try {
      const data = await this.d.render(p.pid, p.sid);
      if (data !== undefined) this.d.deliver(p.pid, id, data);
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message, sessionId: p.sid }, 'could not render a session for legacy WebSocket clients');
    } finally {
      p.rendering = false;
    }
    if (p.again) void this.touched(p.pid, p.sid, p.latestId);
    else {
      // idle: forget it once its window is over (a later event starts again with an immediate send)
      // (a later flush leaves its own timer: this one must not forget a session sent less than a window ago)
      const idle = setTimeout(() => {
        if (!p.timer && !p.rendering && Date.now() - p.sentAt >= this.d.windowMs && this.pending.get(key) === p) this.pending.delete(key);
      }, this.d.windowMs);
      idle.unref();
    }
  }

  /** Sessions waiting for or in a render (for tests and status). */
  get size(): number {
    return this.pending.size;
  }

  /** Stops every timer (shutdown). */
  close(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}
