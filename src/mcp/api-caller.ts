/**
 * The one thing the MCP tools need of their surroundings (contract 08, "MCP": "each a thin call of the
 * HTTP API"): a caller of the Maestro HTTP API as some principal. Two implementations exist: the
 * CLI's `ApiClient.send` (`maestro mcp` over stdio: the session's URL and key, retries, an
 * Idempotency-Key on every POST) and the replica's loopback caller (src/api/mcp-loopback.ts: the
 * Streamable HTTP transport, the incoming request's own credential).
 */

/** What one API call answered (2xx only; anything else rejects). */
export interface ApiReply {
  /** The HTTP status (200, 201, 204 …). */
  status: number;
  /** The parsed JSON body; `{}` for 204 or an empty body. */
  body: unknown;
  /** `X-Next-Cursor` of a list page, when there is a next page. */
  nextCursor?: string;
  /** `X-Total-Count` of a list page, when the API counted it. */
  total?: number;
}

/**
 * A caller of the API: `path` is relative to `/api` and starts with `/` (the tools use `/v1/…`, the
 * paged and bounded paths). A non-2xx answer rejects with an error carrying the HTTP `status`, the
 * envelope's `code` and `message` (the CLI's `CliError`, or {@link ApiCallError}); a network failure
 * rejects with status 0.
 */
export interface McpApi {
  request(method: string, path: string, body?: unknown): Promise<ApiReply>;
}

/** A failed API call as the tools report it: HTTP status (0: none), the API's code and message. */
export interface ApiFailure {
  status: number;
  code: string;
  message: string;
  details?: unknown;
}

/** An API error answer (or a local failure) raised by a {@link McpApi}; what tool errors are made of. */
export class ApiCallError extends Error implements ApiFailure {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

/** A tool argument the tool cannot do without (e.g. no session in context): 400 VALIDATION_ERROR, raised before any call. */
export function missingArgument(name: string, hint: string): ApiCallError {
  return new ApiCallError(400, 'VALIDATION_ERROR', `${name} is required: ${hint}`);
}

/** The contract's code of an HTTP status, for answers whose body carried none (a proxy's page). */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  422: 'BUSINESS_RULE_ERROR',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

/**
 * What went wrong, from anything a caller threw: an error with a numeric `status` and a string `code`
 * keeps both (CliError, ApiCallError); an HTTP status without a code gets the contract's code of that
 * status (`HTTP_<n>` if none); a network failure (status 0, no code) is `UNAVAILABLE`; anything else
 * `INTERNAL_ERROR` with its message.
 */
export function apiFailureOf(err: unknown): ApiFailure {
  const e = (err ?? {}) as { status?: unknown; code?: unknown; message?: unknown; details?: unknown; extra?: { details?: unknown; errors?: unknown } };
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  const status = typeof e.status === 'number' ? e.status : undefined;
  const code = typeof e.code === 'string' && e.code ? e.code : undefined;
  const details = e.details ?? e.extra?.details ?? e.extra?.errors;
  if (status === undefined) return { status: 0, code: code ?? 'INTERNAL_ERROR', message };
  const out: ApiFailure = { status, code: code ?? (status === 0 ? 'UNAVAILABLE' : CODE_OF_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`)), message };
  if (details !== undefined) out.details = details;
  return out;
}
