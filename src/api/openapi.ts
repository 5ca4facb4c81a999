import { z } from 'zod';
import { COMPONENTS, type ComponentName } from './openapi-components.js';
import { openApiPath, type ResponseShape, type RouteSpec } from './route-table.js';

/** A JSON Schema object as zod renders it (draft 2020-12, what OpenAPI 3.1 uses). */
export type JsonSchema = Record<string, unknown>;

/** The OpenAPI 3.1 document (`/api/v1/openapi.json`), as far as its readers here look into it. */
export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string; description?: string }[];
  /** The top-level requirement: a bearer token or an API key; open operations say `security: []`. */
  security: Record<string, string[]>[];
  /** Full path (`/api/v1/tasks/{id}`, `/health`) → method → operation. */
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, Record<string, string>> };
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
};

const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });

/** The JSON Schema of a response shape: a `$ref` to a component, an array of them, or the inline schema. */
function responseSchema(shape: ResponseShape): JsonSchema {
  if (typeof shape !== 'string') return jsonSchema(shape, 'output');
  return shape.endsWith('[]') ? { type: 'array', items: ref(shape.slice(0, -2) as ComponentName) } : ref(shape as ComponentName);
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted (spawn continues; follow session:spawn)',
  400: 'VALIDATION_ERROR (details: [{path, message}])',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'Method not allowed (JSON-RPC error)',
  406: 'Not acceptable (MCP: Accept must name application/json and text/event-stream)',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED (If-Match)',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'Unsupported media type (MCP: Content-Type must be application/json)',
  422: 'BUSINESS_RULE_ERROR',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  503: 'UNAVAILABLE (Redis unreachable; Retry-After)',
};

/**
 * The OpenAPI operations of `specs` (route-table.ts), keyed by full path (`/api/v1` before every path
 * that is not `root`) and method: tag, summary, operationId, path and query parameters, request body,
 * the success response(s) and the error statuses (401/403/429/503 added under `/api`), and `security:
 * []` for an `open` route. Two specs with the same method and path: the first one is documented.
 */
export function openApiPaths(specs: readonly RouteSpec[]): OpenApiDocument['paths'] {
  const paths: OpenApiDocument['paths'] = {};
  for (const spec of specs) {
    const path = openApiPath(spec.path);
    const full = spec.root ? path : `/api/v1${path}`;
    if (paths[full]?.[spec.method]) continue;
    const params: Record<string, unknown>[] = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (spec.query) {
      const q = jsonSchema(spec.query, 'input') as { properties?: Record<string, unknown> };
      for (const [name, schema] of Object.entries(q.properties ?? {})) params.push({ name, in: 'query', required: false, schema });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, shape] of [spec.ok, ...(spec.otherOk ?? [])]) {
      responses[status] = { description: STATUS_TEXT[status] ?? 'OK', content: { [spec.okType ?? 'application/json']: { schema: responseSchema(shape) } } };
    }
    const errorStatuses = spec.root ? (spec.errors ?? []) : [...new Set([...(spec.errors ?? []), 401, 403, 429, 503])];
    for (const e of errorStatuses.sort()) {
      responses[e] = { description: STATUS_TEXT[e] ?? 'Error', content: { 'application/json': { schema: ref('Error') } } };
    }
    const operation: Record<string, unknown> = {
      tags: [spec.tag],
      summary: spec.summary,
      operationId: `${spec.method}${full.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(\w)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: params,
      responses,
    };
    if (spec.open) operation.security = [];
    if (spec.body) operation.requestBody = { required: false, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } };
    (paths[full] ??= {})[spec.method] = operation;
  }
  return paths;
}

/**
 * The OpenAPI 3.1 document of the routes `specs` (api-routes.ts `allRoutes`; contract 00 "Paths"),
 * served at `serverUrl`, built anew on each call (app.ts builds it once per app, on the first request
 * that reads it): their operations
 * (`openApiPaths`), the shared response schemas (openapi-components.ts), and the two credentials
 * (bearer JWT, `X-API-Key`) required everywhere except on open operations.
 */
export function openApiDocument(specs: readonly RouteSpec[], serverUrl: string): OpenApiDocument {
  const schemas: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(COMPONENTS)) schemas[name] = jsonSchema(schema, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Maestro API',
      version: '1.0.0',
      description:
        'Projects, tasks, sessions, queues, skills and templates. `/api` is an alias of `/api/v1`. Lists are JSON arrays paged by `limit`/`cursor` (`Link`, `X-Next-Cursor`, `X-Total-Count`). Writes honour `If-Match`; POSTs accept `Idempotency-Key`.',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }, { apiKey: [] }],
    paths: openApiPaths(specs),
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}
