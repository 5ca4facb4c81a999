/**
 * The BullMQ queue of the scheduled maintenance jobs (`backup`, `retention`; contract 00 "Backups"):
 * filled and worked by the workers (src/worker/maintenance-worker.ts), listed by the API's queue
 * dashboard (`/admin/queues`, issue 16). Its keys live under `bullPrefix(config)` as the spawn queue's.
 */
export const MAINTENANCE_QUEUE = 'maintenance';
