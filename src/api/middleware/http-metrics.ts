import type { RequestHandler } from 'express';
import type { Metrics } from '../../shared/metrics.js';

/**
 * Observes every request: in-flight gauge, and on finish the duration by method, route template
 * (`/api/v1/tasks/:id`, never the id itself; `unmatched` for unknown routes) and status code.
 */
export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    metrics.httpInFlight.inc();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      metrics.httpInFlight.dec();
      const route = req.route?.path ? `${req.baseUrl}${[req.route.path].flat()[0]}` : 'unmatched';
      end({ method: req.method, route, status_code: String(res.statusCode) });
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  };
}
