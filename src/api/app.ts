import './express-augment.js';
import cors from 'cors';
import express, { Router, type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { IncomingMessage } from 'node:http';

const LOGGED_HEADERS = ['user-agent', 'x-forwarded-for', 'origin', 'content-length'];
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie'];

/**
 * What the request log line keeps of a request: id, method, url, client address and a few headers;
 * credential headers appear only as `[redacted]` (so a line shows that one was sent, never its value).
 */
export function requestLogFields(req: IncomingMessage & { id?: unknown; raw?: IncomingMessage }) {
  const r = req.raw ?? req;
  const headers: Record<string, string> = {};
  for (const h of LOGGED_HEADERS) {
    const v = r.headers[h];
    if (v !== undefined) headers[h] = String(v);
  }
  for (const h of CREDENTIAL_HEADERS) if (r.headers[h] !== undefined) headers[h] = '[redacted]';
  return { id: req.id, method: r.method, url: r.url, remoteAddress: r.socket?.remoteAddress, headers };
}
import type { ApiDeps } from './api-deps.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { idempotency } from './middleware/idempotency.js';
import { jsonBody } from './middleware/json-body.js';
import { requestId } from './middleware/request-id.js';
import { createRateLimiters } from './middleware/rate-limits.js';
import { requestTimeout } from './middleware/request-timeout.js';
import { authenticate } from './middleware/authenticate.js';
import { authRoutes } from './routes/auth.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { healthRoutes } from './routes/health.js';
import { openApiDocument } from './openapi.js';
import { opsAccess, openOps } from './middleware/ops-access.js';
import { opsRoutes } from './routes/ops.js';
import { projectRoutes } from './routes/projects.js';
import { queueRoutes } from './routes/queues.js';
import { sessionRoutes } from './routes/sessions.js';
import { skillRoutes } from './routes/skills.js';
import { spawnRoutes } from './routes/spawn.js';
import { taskRoutes } from './routes/tasks.js';
import { templateRoutes } from './routes/templates.js';

/**
 * Builds the Express app (no `listen`): middleware, every route of contract 02 under `/api/v1` and
 * the `/api` alias (contract 00 "Paths"), health routes at the root, JSON 404 and the error handler.
 * `extraApiRoutes` are mounted before the resource routes (spawn must precede `/sessions/:id`).
 */
export function createApp(deps: ApiDeps, extraApiRoutes: Router[] = []): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.use(requestId);
  // One log line per request with its id (X-Request-Id); secrets in headers are redacted by the logger.
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req) => (req as { id?: string }).id ?? '',
      autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' || req.url === '/ready' },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      // A lean line per request: the default serializers copy every request and response header,
      // which cost about a fifth of a replica's CPU under load (bench/RESULTS.md "HTTP").
      serializers: { req: requestLogFields, res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }) },
    }),
  );
  if (deps.metrics) app.use(httpMetrics(deps.metrics));
  app.use(requestTimeout(deps.config.REQUEST_TIMEOUT_MS, (path) => /\/sessions\/spawn$/.test(path)));
  app.use(helmet({ contentSecurityPolicy: false, crossOriginResourcePolicy: false }));
  if (deps.config.CORS_ENABLED) {
    const origins = deps.config.CORS_ORIGINS;
    app.use(
      cors({
        origin: origins.includes('*') ? (deps.config.CORS_CREDENTIALS ? true : '*') : origins,
        credentials: deps.config.CORS_CREDENTIALS,
        exposedHeaders: ['ETag', 'Link', 'X-Next-Cursor', 'X-Total-Count', 'X-Request-Id', 'Retry-After'],
      }),
    );
  }
  app.use(jsonBody(deps.config.BODY_LIMIT_BYTES, deps.config.MAX_JSON_DEPTH));
  const guard = opsAccess(deps.config, deps.auth);
  app.use(healthRoutes(deps, guard));
  app.use(opsRoutes(deps, guard));
  const doc = openApiDocument(deps.schemas, deps.config.SERVER_URL);

  const limits = createRateLimiters(deps.rateLimitRedis ?? deps.redis, deps.config);
  const api = Router();
  api.use(limits.perIp);
  api.post(['/auth/login', '/auth/register'], limits.auth);
  api.use(authenticate(deps.auth));
  api.use(limits.perPrincipal);
  api.post('/sessions/spawn', limits.spawn);
  api.use(idempotency(deps.redis, deps.stores.ctx.keys, deps.config.IDEMPOTENCY_TTL_SECONDS));
  api.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  for (const r of extraApiRoutes) api.use(r);
  if (deps.identity) api.use(authRoutes(deps, deps.identity));
  api.use(projectRoutes(deps));
  api.use(taskRoutes(deps));
  api.use(spawnRoutes(deps));
  api.use(queueRoutes(deps));
  api.use(sessionRoutes(deps));
  api.use(skillRoutes(deps));
  api.use(templateRoutes(deps));
  app.use('/api/v1', api);
  app.use('/api', api);

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, () => deps.metrics?.redisErrors.inc()));
  return app;
}

/**
 * The operations app of an API replica's METRICS_PORT (contract 00; security issue 11, item 18): the
 * same `/metrics`, `/health` (deep too), `/ready`, `/ws-status` and `/docs` as on the API port, without
 * the metrics token, for a port only the cluster's network (Prometheus) reaches. Nothing of `/api`.
 */
export function createOpsApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(healthRoutes(deps, openOps));
  app.use(opsRoutes(deps, openOps));
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
