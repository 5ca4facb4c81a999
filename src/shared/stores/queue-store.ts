// STUB — to be implemented (queue helper). Signature fixed; see api/routes/queues.ts.
import type { StoreContext } from './store-context.js';
import type { SessionStore } from './session-store.js';
import type { TaskStore } from './task-store.js';

export class QueueStore {
  constructor(
    readonly ctx: StoreContext,
    readonly sessions: SessionStore,
    readonly tasks: TaskStore,
  ) {}
  /** QueueState JSON text for a new queue over `taskIds` (all `queued`, currentIndex -1). */
  static initialDoc(sessionId: string, taskIds: string[], now: number): string {
    return JSON.stringify({
      sessionId,
      strategy: 'queue',
      items: taskIds.map((taskId) => ({ taskId, status: 'queued', addedAt: now })),
      currentIndex: -1,
      createdAt: now,
      updatedAt: now,
    });
  }
}
