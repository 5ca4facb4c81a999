import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import { ForbiddenError } from '../shared/errors.js';

/** Where the queue dashboard is served (issue 16). */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** The queues the dashboard lists, each with what an operator reads about it. */
export interface DashboardQueue {
  queue: Queue;
  description: string;
}

/**
 * The dashboard's changing requests Maestro offers (path below QUEUE_DASHBOARD_PATH, all PUT): retry,
 * clean and promote of a queue's jobs in a state or of one job, pause and resume. bull-board's others
 * (add a job, replace a job's data, empty or obliterate a queue, change concurrency, rate limits,
 * delays, priorities or schedulers) are refused: a spawn job made by hand skips spawn's validation and
 * slots (contract 04), and the maintenance schedules are the workers' (BACKUP_CRON, RETENTION_CRON).
 */
const OFFERED_ACTIONS = [
  /^\/api\/queues\/[^/]+\/(retry|clean)\/[a-z-]+$/,
  /^\/api\/queues\/[^/]+\/(promote|pause|resume)$/,
  /^\/api\/queues\/(pause|resume)$/,
  /^\/api\/queues\/[^/]+\/[^/]+\/(retry|clean|promote)$/,
];

/**
 * Refuses (403 FORBIDDEN) a changing request the dashboard does not offer (OFFERED_ACTIONS), and one
 * sent from another origin (`Origin` naming another host than `Host`): the browser sends the page's
 * Basic credentials with any request to it, so a changing one must come from the page itself.
 */
const offeredOnly: RequestHandler = (req, _res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  const origin = req.headers.origin;
  if (origin !== undefined && URL.parse(origin)?.host !== req.headers.host) throw new ForbiddenError('The queue dashboard takes changes from its own page only');
  if (req.method !== 'PUT' || !OFFERED_ACTIONS.some((re) => re.test(req.path))) {
    throw new ForbiddenError('The queue dashboard offers retry, clean, promote, pause and resume only');
  }
  next();
};

/**
 * The dashboard page's CSP: its own scripts, styles and images from this replica, requests to this
 * origin only. (bull-board's page links Google Fonts: `localPage` drops that link, and this refuses it.)
 */
const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'";
const REMOTE_STYLESHEET = /<link\b[^>]*href="https?:\/\/[^"]*"[^>]*rel="stylesheet"[^>]*>/g;

/**
 * Sets the CSP and makes the page bull-board renders (`res.render`) leave out remote stylesheets
 * (Google Fonts): nothing of the dashboard is fetched from the internet (the fonts fall back to the
 * system's).
 */
const localPage: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  const render = res.render.bind(res);
  res.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (err: Error | null, html: string) => {
      if (err) return next(err);
      res.type('html').send(html.replace(REMOTE_STYLESHEET, ''));
    })) as typeof res.render;
  next();
};

/**
 * The queue dashboard for operators (issue 16): bull-board, the BullMQ community's UI, at
 * `/admin/queues`, listing `queues` (the spawn and maintenance queues) with its job views and its
 * retry, promote and clean actions (not read-only: retrying a failed spawn or cleaning old jobs is what
 * an operator comes for; other changes are refused, see OFFERED_ACTIONS). Every request of the page, its assets and its JSON API first passes `guard`
 * (admin-access.ts: admins only, by the access policy). Its assets come from @bull-board/ui's own
 * files, served by this replica (nothing from the internet: see `localPage`). Returns a Router to mount at the root.
 */
export function queueDashboard(queues: DashboardQueue[], guard: RequestHandler): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q.queue, { readOnlyMode: false, allowRetries: true, description: q.description })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Maestro queues', hideDocsLink: true } },
  });
  const r = Router();
  r.use(QUEUE_DASHBOARD_PATH, guard, offeredOnly, localPage, adapter.getRouter() as RequestHandler);
  return r;
}
