import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus registry and Maestro's metric families (operations issue). Names and
 * labels follow Prometheus conventions (`_total`, `_seconds`, base units); no label ever holds an id.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly httpInFlight: Gauge;
  readonly wsConnections: Gauge;
  readonly wsMessagesSent: Counter;
  readonly wsDroppedSlow: Counter;
  readonly wsReplays: Counter;
  readonly eventsPublished: Counter<'type'>;
  readonly spawnJobs: Counter<'result'>;
  readonly spawnDuration: Histogram<'result'>;
  readonly queueJobs: Gauge<'state'>;
  /** API: age (s) of the spawn queue's next job to start, 0 when none waits (backlog age; issue 16). */
  readonly queueOldestWaiting: Gauge;
  readonly redisUp: Gauge;
  readonly redisErrors: Counter;
  /** Worker: scheduled maintenance jobs by job (backup | retention) and result (completed | failed). */
  readonly maintenanceJobs: Counter<'job' | 'result'>;
  /** Worker: when the last backup this process wrote finished (Unix seconds; alert when it grows old). */
  readonly lastBackup: Gauge;
  /** Worker: sessions archived by retention. */
  readonly sessionsArchived: Counter;
  /** API: TCP connections refused with 429 for being over a connection cap, by reason (total | per_ip). */
  readonly connectionsRefused: Counter<'reason'>;
  /** Set by the process: 1 when its main Redis connection is ready (read at scrape time). */
  redisProbe?: () => number;
  /** Set by a process that sees the spawn queue: job counts by state (read at scrape time). */
  queueProbe?: () => Promise<Record<string, number>>;
  /** When set, reads the creation time (epoch ms) of the spawn queue's next job to start, or undefined when none waits. */
  queueHeadProbe?: () => Promise<number | undefined>;

  constructor(component: 'api' | 'worker') {
    this.registry.setDefaultLabels({ component });
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    });
    this.httpInFlight = new Gauge({ name: 'http_requests_in_flight', help: 'HTTP requests being served', registers: r });
    this.wsConnections = new Gauge({ name: 'maestro_ws_connections', help: 'Open WebSocket connections on this replica', registers: r });
    this.wsMessagesSent = new Counter({ name: 'maestro_ws_messages_sent_total', help: 'WebSocket messages sent to clients', registers: r });
    this.wsDroppedSlow = new Counter({ name: 'maestro_ws_clients_dropped_slow_total', help: 'WebSocket clients closed with 1013 for being too slow', registers: r });
    this.wsReplays = new Counter({ name: 'maestro_ws_replays_total', help: 'Replays served to reconnecting WebSocket clients', registers: r });
    this.eventsPublished = new Counter({ name: 'maestro_events_published_total', help: 'Events appended and published, by type', labelNames: ['type'], registers: r });
    this.spawnJobs = new Counter({ name: 'maestro_spawn_jobs_total', help: 'Spawn job attempts by result (completed | failed)', labelNames: ['result'], registers: r });
    this.spawnDuration = new Histogram({
      name: 'maestro_spawn_job_duration_seconds',
      help: 'Spawn job attempt duration by result',
      labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: r,
    });
    this.queueJobs = new Gauge({
      name: 'maestro_queue_jobs',
      help: 'Jobs of the spawn queue by state',
      labelNames: ['state'],
      registers: r,
      collect: async () => {
        try {
          const counts = (await this.queueProbe?.()) ?? {};
          for (const [state, n] of Object.entries(counts)) this.queueJobs.set({ state }, n);
        } catch {
          /* Redis away: keep the last values */
        }
      },
    });
    this.queueOldestWaiting = new Gauge({
      name: 'maestro_queue_oldest_waiting_seconds',
      help: "Age in seconds of the spawn queue's next job to start (the head of its waiting and prioritized jobs); 0 when none waits",
      registers: r,
      collect: async () => {
        try {
          const createdAt = await this.queueHeadProbe?.();
          this.queueOldestWaiting.set(createdAt === undefined ? 0 : Math.max(0, (Date.now() - createdAt) / 1000));
        } catch {
          /* Redis away: keep the last value */
        }
      },
    });
    this.redisUp = new Gauge({
      name: 'maestro_redis_up',
      help: '1 when the main Redis connection is ready',
      registers: r,
      collect: () => this.redisUp.set(this.redisProbe?.() ?? 0),
    });
    this.redisErrors = new Counter({ name: 'maestro_redis_command_errors_total', help: 'Redis commands that failed because Redis was unreachable or slow', registers: r });
    this.maintenanceJobs = new Counter({
      name: 'maestro_maintenance_jobs_total',
      help: 'Scheduled maintenance jobs by job (backup | retention) and result (completed | failed)',
      labelNames: ['job', 'result'],
      registers: r,
    });
    this.lastBackup = new Gauge({ name: 'maestro_backup_last_success_timestamp_seconds', help: 'When the last backup written by this worker finished (Unix time)', registers: r });
    this.sessionsArchived = new Counter({ name: 'maestro_sessions_archived_total', help: 'Sessions archived by the retention job', registers: r });
    this.connectionsRefused = new Counter({
      name: 'maestro_connections_refused_total',
      help: 'TCP connections refused with 429 for being over a connection cap, by reason (total | per_ip)',
      labelNames: ['reason'],
      registers: r,
    });
  }
}

/** Event types counted per commit (the label set is the fixed event catalogue, never an id). */
let eventsHook: ((type: string) => void) | undefined;

/** Registers the counter the Commit builder reports published events to (one per process). */
export function onEventsPublished(hook: (type: string) => void): void {
  eventsHook = hook;
}

/** Called by Commit after a successful step, once per event. */
export function countEvent(type: string): void {
  eventsHook?.(type);
}
