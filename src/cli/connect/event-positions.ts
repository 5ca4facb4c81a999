import { compareIds, isStreamId } from '../../shared/events/stream-ids.js';

/** Margin below a pong's timestamp, ms (clock gap between a replica and Redis, commit → publish). */
export const FLOOR_MARGIN_MS = 250;
/** Margin below a guess from this machine's clock (the offset is read from `Date`, whole seconds), ms. */
export const GUESS_MARGIN_MS = 2000;

/**
 * Where one client of the proxy stands in the cluster's event streams, so that a new upstream socket
 * (after a replica died) continues exactly where the old one stopped (contract 00 "Events": every
 * event carries `id`, monotonic per project; `{"type":"resume","since":{projectId: id}}` replays each
 * project after its position, without duplicates).
 *
 * - **Seen projects** resume after the last event id the client received of them (the greatest: a
 *   whole `session:updated` may come after a later event of its project, and carries an older id).
 * - **Projects not seen yet** resume from the **floor**: the cluster's time when the client's first
 *   upstream socket went live (or the client's own `?since=`), so an event of such a project that was
 *   written while no socket was open is replayed too. The floor is read from the cluster's clock
 *   (the `timestamp` of a pong, a replica's `Date.now()`), less FLOOR_MARGIN_MS for the gap between
 *   a replica's clock and Redis's (stream ids are Redis time): an event of a project not seen that
 *   was written up to that margin before the client connected may come once after a reconnect.
 */
export class EventPositions {
  private readonly last = new Map<string, string>();
  private floor: string;
  /** The client fixed the floor itself (`?since=`, a `resume`): pongs no longer move it. */
  private floorFromClient = false;

  /** `floorMs`: a first guess of the cluster's time now (this machine's clock plus the measured offset). */
  constructor(floorMs: number, clientSince?: string | null) {
    this.floor = `${Math.max(0, Math.floor(floorMs - GUESS_MARGIN_MS))}-0`;
    if (clientSince && isStreamId(clientSince)) {
      this.floor = clientSince;
      this.floorFromClient = true;
    }
  }

  /** The cluster's own time when the first upstream socket was live (a pong's `timestamp`, ms). */
  clusterTime(ms: number): void {
    if (!this.floorFromClient) this.floor = `${Math.max(0, Math.floor(ms - FLOOR_MARGIN_MS))}-0`;
  }

  /** The client received event `id` of `projectId`. */
  note(projectId: string, id: string): void {
    const prev = this.last.get(projectId);
    if (prev === undefined || compareIds(id, prev) > 0) this.last.set(projectId, id);
  }

  /**
   * The client asked for a replay itself (`resume`): a string position restarts every project there;
   * a map restarts the projects it names there.
   */
  clientResume(since: string | Record<string, unknown>): void {
    if (typeof since === 'string') {
      if (!isStreamId(since)) return;
      this.last.clear();
      this.floor = since;
      this.floorFromClient = true;
      return;
    }
    for (const [pid, id] of Object.entries(since)) if (typeof id === 'string' && isStreamId(id)) this.last.set(pid, id);
  }

  /** The position of each of `projectIds` to resume from: its last event, else the floor. */
  resume(projectIds: Iterable<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pid of projectIds) out[pid] = this.last.get(pid) ?? this.floor;
    return out;
  }

  /** The floor as a stream id (the `?since=` of a reconnect when the projects cannot be listed). */
  get floorId(): string {
    return this.floor;
  }

  /** A copy of the last ids (to drop what a whole-stream replay sends again). */
  snapshot(): Map<string, string> {
    return new Map(this.last);
  }

  /** Number of projects seen. */
  get seen(): number {
    return this.last.size;
  }
}
