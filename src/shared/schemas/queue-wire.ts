import { z } from 'zod';
import { QueueItemSchema, QueueStateSchema, QueueStatsSchema } from './wire.js';

/**
 * Answers of the queue routes (contract 02 "Queue", semantics in 05; shared/stores/queue-store.ts),
 * for the OpenAPI document. Items and the state are wire.ts's QueueItem / QueueState.
 */

/** `GET /sessions/:id/queue`. */
export const QueueViewSchema = z.object({ queue: QueueStateSchema, stats: QueueStatsSchema });

/** `GET /sessions/:id/queue/items`. */
export const QueueItemsSchema = z.object({ items: z.array(QueueItemSchema), stats: QueueStatsSchema });

/** `GET /sessions/:id/queue/top`: the next queued item, or none with a message. */
export const QueueTopSchema = z.object({ hasMore: z.boolean(), item: QueueItemSchema.nullable(), message: z.string().optional() });

/** `POST /sessions/:id/queue/start`: the item started, or `empty` with none. */
export const QueueStartSchema = z.object({ success: z.literal(true), item: QueueItemSchema.nullable(), empty: z.literal(true).optional(), message: z.string() });

/** `POST …/queue/complete|fail|skip`: the item finished (`completedItem`, `failedItem` or `skippedItem`) and the next one. */
export const QueueFinishSchema = z.object({
  success: z.literal(true),
  completedItem: QueueItemSchema.optional(),
  failedItem: QueueItemSchema.optional(),
  skippedItem: QueueItemSchema.optional(),
  nextItem: QueueItemSchema.nullable(),
  hasMore: z.boolean(),
  message: z.string(),
});

/** `POST /sessions/:id/queue/push`: the item appended. */
export const QueuePushSchema = z.object({ success: z.literal(true), item: QueueItemSchema });
