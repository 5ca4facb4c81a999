/**
 * Errors that cross the HTTP boundary. Each carries the contract's `code` and HTTP status; the API's
 * error handler is the only place that turns them into the envelope (contract 02 "Error envelope", 00
 * "Errors added"). Nothing else (stack, Redis text, file paths) ever reaches a client.
 */

/** Envelope shape: `service` = A (`statusCode` included), `route` = B (no `statusCode`). Contract 02. */
export type EnvelopeKind = 'service' | 'route';

/** One validation problem: `path` like `body.title`, `message` human text. */
export interface ValidationDetail {
  path: string;
  message: string;
}

/** Base class: `code` (wire code), `status` (HTTP), optional `details`, envelope kind. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  readonly envelope: EnvelopeKind;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; envelope?: EnvelopeKind; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.envelope = options.envelope ?? 'service';
    this.headers = options.headers ?? {};
  }
}

/** 400 VALIDATION_ERROR; `details` lists every problem found (contract 00 "Input"). */
export class ValidationError extends AppError {
  constructor(message: string, details?: ValidationDetail[], envelope: EnvelopeKind = 'service') {
    super(400, 'VALIDATION_ERROR', message, { details, envelope });
  }
}

/** 404 NOT_FOUND with the original's message: `${resource} with id '${id}' not found` (contract 02). */
export class NotFoundError extends AppError {
  constructor(resource: string, id: string) {
    super(404, 'NOT_FOUND', `${resource} with id '${id}' not found`);
  }
}

/** 422 BUSINESS_RULE_ERROR, e.g. deleting a project that still has tasks (contract 02, D2). */
export class BusinessRuleError extends AppError {
  constructor(message: string) {
    super(422, 'BUSINESS_RULE_ERROR', message);
  }
}

/** 409 CONFLICT (Idempotency-Key reused with another body; contract 00). */
export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'CONFLICT', message, { envelope: 'route' });
  }
}

/** 412 PRECONDITION_FAILED: `If-Match` does not match the entity's current version (contract 00). */
export class PreconditionFailedError extends AppError {
  constructor(current: number) {
    super(412, 'PRECONDITION_FAILED', `Version mismatch: current version is ${current}`, {
      envelope: 'route',
      details: { currentVersion: current },
    });
  }
}

/** 503 UNAVAILABLE with `Retry-After` seconds: Redis unreachable or too slow (contract 00). */
export class UnavailableError extends AppError {
  constructor(message = 'Service temporarily unavailable', retryAfterSeconds = 1) {
    super(503, 'UNAVAILABLE', message, { envelope: 'route', headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

/** 401 UNAUTHORIZED: missing or invalid credential (contract 00 "Identity and access"). */
export class UnauthorizedError extends AppError {
  constructor(message = 'Authentication required') {
    super(401, 'UNAUTHORIZED', message, { envelope: 'route' });
  }
}

/** 403 FORBIDDEN: credential valid, action not allowed (contract 00). */
export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden') {
    super(403, 'FORBIDDEN', message, { envelope: 'route' });
  }
}

/** Startup configuration error: names the variable; the process exits 1 (contract 06, D57). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
