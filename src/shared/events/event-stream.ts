import type { Keys } from '../keys.js';
import type { RedisClient } from '../redis-connection.js';
import { compareIds } from './stream-ids.js';

/** One entry of a project's event stream: its stream id (the event's wire id), type and raw JSON data. */
export interface StreamEntry {
  id: string;
  type: string;
  /** The event's data as stored: JSON text, never parsed here. */
  data: string;
}


/**
 * The read side of the projects' event streams (the outbox every commit appends to; DESIGN.md
 * "Redis data model"): pages of entries after a position and whether a position is still covered.
 * Every read is bounded by its `count` (contract 00 "Events": replay reads a page at a time).
 */
export class EventStream {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /**
   * Up to `count` entries of project `pid`'s stream after `after` (exclusive), up to `until`
   * (inclusive, default the end), oldest first: one XRANGE … COUNT.
   */
  async page(pid: string, after: string, count: number, until = '+'): Promise<StreamEntry[]> {
    const rows = await this.redis.xrange(this.keys.events(pid), `(${after}`, until, 'COUNT', count);
    return rows.map(([id, fields]) => {
      let type = '';
      let data = 'null';
      for (let i = 0; i < fields.length; i += 2) {
        if (fields[i] === 'type') type = fields[i + 1]!;
        else if (fields[i] === 'data') data = fields[i + 1]!;
      }
      return { id, type, data };
    });
  }

  /**
   * True when project `pid`'s stream has trimmed entries after position `from` (a client there must
   * resync). One XINFO STREAM; a missing stream (no events yet, or expired) is never too old.
   */
  async tooOld(pid: string, from: string): Promise<boolean> {
    try {
      const info = (await this.redis.xinfo('STREAM', this.keys.events(pid))) as unknown[];
      const get = (name: string) => info[info.indexOf(name) + 1];
      const length = Number(get('length'));
      const added = Number(get('entries-added'));
      const first = get('first-entry') as [string, string[]] | null;
      if (!first || added <= length) return false;
      // Something before `first` was trimmed; a position before `first` may have missed it. (A
      // client whose last event is exactly the newest trimmed one is asked to resync too: safe.)
      return compareIds(from, first[0]) < 0;
    } catch {
      return false;
    }
  }
}
