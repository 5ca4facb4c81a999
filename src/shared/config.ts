import { fileURLToPath } from 'node:url';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './auth/passwords.js';
import { parseJwtKeys } from './auth/jwt-keys.js';
import { ConfigError } from './errors.js';

/** This package's built CLI, from src/shared or dist/shared alike. */
const OWN_CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));

/** Expands a leading `~` to the home directory and resolves to an absolute path (contract 06). */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return resolve(path);
}

/** zod 4's string-to-boolean rule (case-insensitive; the word lists are BOOLEAN_WORDS). */
const stringBool = z.stringbool();
/** What a boolean setting accepts, as the error message lists it. */
const BOOLEAN_WORDS = 'true/1/yes/on/y/enabled or false/0/no/off/n/disabled, any case';

/**
 * A boolean setting, parsed the standard way (zod `z.stringbool()`; issue 16): true/1/yes/on/y/enabled
 * → true, false/0/no/off/n/disabled → false, any case, surrounding spaces ignored; unset or empty →
 * `dflt`; anything else → "must be a boolean (…), got 'maybe'".
 */
const bool = (dflt: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return dflt;
      const parsed = stringBool.safeParse(v.trim());
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: `must be a boolean (${BOOLEAN_WORDS}), got '${v}'` });
        return z.NEVER;
      }
      return parsed.data;
    });

/**
 * A cron setting of a BullMQ job scheduler (issue 16): `off` (the worker removes that schedule), unset
 * or empty → `dflt` (undefined: leave the schedule as it is), else a pattern that the cron parser BullMQ
 * itself uses (`cron-parser` 5, `CronExpressionParser.parse`) accepts: 5 fields, or 6 with seconds
 * first (`* * * * * *`), or an alias such as `@hourly`. Anything else → "must be a cron pattern (…) or
 * 'off', got 'nonsense': <the parser's message>", at start-up instead of a schedule retried forever.
 */
const cron = <D extends string | undefined>(dflt: D) =>
  z
    .string()
    .optional()
    .transform((v, ctx): string | D => {
      const p = v?.trim();
      if (p === undefined || p === '') return dflt;
      if (p === 'off') return p;
      try {
        CronExpressionParser.parse(p);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be a cron pattern (5 fields, or 6 with seconds first) or 'off', got '${p}': ${(err as Error).message}` });
        return z.NEVER;
      }
      return p;
    });

/**
 * An optional variable checked by `check`: unset or empty → undefined, else what `check` returns (its
 * value for the config). An error `check` throws becomes the variable's issue, with its message (which
 * must not show a secret value); `check` may return undefined for a blank value.
 */
const optionalChecked = <T>(check: (v: string) => T) =>
  z
    .string()
    .optional()
    .transform((v, ctx): T | undefined => {
      if (v === undefined || v === '') return undefined;
      try {
        return check(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

/**
 * MAESTRO_JWT_KEYS: unset or blank → undefined (one key generated and kept in Redis), else
 * `kid:secret[,…]` by the rule of src/shared/auth/jwt-keys.ts (secrets ≥ 32 characters; issue 16). The
 * message names the entry and the rule, never the value: the value is a secret.
 */
const jwtKeys = optionalChecked((v) => {
  if (v.trim() === '') return undefined;
  try {
    parseJwtKeys(v);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the value is not shown`);
  }
  return v.trim();
});

/** MAESTRO_ADMIN_EMAIL: unset/blank → undefined, else an email address (lower-cased, as registration stores it). */
const adminEmail = optionalChecked((v) => {
  const t = v.trim().toLowerCase();
  if (t === '') return undefined;
  if (!z.email().safeParse(t).success || t.length > 254) throw new Error(`must be an email address, got '${t}'`);
  return t;
});

/**
 * MAESTRO_ADMIN_PASSWORD: unset/empty → undefined, else PASSWORD_MIN_LENGTH..PASSWORD_MAX_LENGTH
 * characters, the rule of registration (src/shared/auth/passwords.ts). The message gives the length,
 * never the value.
 */
const adminPassword = optionalChecked((v) => {
  if (v.length < PASSWORD_MIN_LENGTH || v.length > PASSWORD_MAX_LENGTH) {
    throw new Error(`must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, got ${v.length}; the value is not shown`);
  }
  return v;
});

/** Names Express's `trust proxy` knows besides addresses and subnets. */
const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * TRUST_PROXY, Express's `trust proxy`: unset/empty or a false word (see `bool`) → false; a true word
 * → true (trust every hop); digits → that many hops (so `1` is one hop, not true); else a comma list of
 * addresses, `address/prefix` subnets (a prefix length, or a netmask for IPv4) and the names loopback,
 * linklocal, uniquelocal, each checked (issue 16: a typo fails at start-up, not on the first request).
 */
const trustProxy = z
  .string()
  .optional()
  .transform((v, ctx): boolean | number | string => {
    const t = v?.trim();
    if (t === undefined || t === '') return false;
    if (/^\d+$/.test(t)) return Number(t);
    const word = stringBool.safeParse(t);
    if (word.success) return word.data;
    const bad = t
      .split(',')
      .map((e) => e.trim())
      .filter((e) => {
        if (TRUST_PROXY_NAMES.includes(e)) return false;
        const [addr = '', prefix, ...rest] = e.split('/');
        const family = isIP(addr);
        if (!family || rest.length) return true;
        if (prefix === undefined) return false;
        const bits = /^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
        return !(bits || (family === 4 && isIP(prefix) === 4)); // a prefix length, or an IPv4 netmask
      });
    if (bad.length) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a boolean, a hop count or a comma list of addresses, subnets (address/prefix), loopback, linklocal, uniquelocal; '${bad.join("', '")}' is none of these`,
      });
      return z.NEVER;
    }
    return t;
  });

const int = (dflt: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got '${v}'` });
        return z.NEVER;
      }
      return n;
    });

const path = (dflt: string) =>
  z
    .string()
    .optional()
    .transform((v) => expandHome(v === undefined || v === '' ? dflt : v));

const enumOf = <T extends string>(values: readonly [T, ...T[]], dflt: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return dflt;
      if (!(values as readonly string[]).includes(v)) {
        ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}, got '${v}'` });
        return z.NEVER;
      }
      return v as T;
    });

const redisUrl = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const url = v === undefined || v === '' ? 'redis://127.0.0.1:6379' : v;
    if (!/^(rediss?|redis-sentinel|redis-cluster):\/\//.test(url)) {
      ctx.addIssue({
        code: 'custom',
        message: `must start with redis://, rediss://, redis-sentinel:// or redis-cluster://, got '${url}'`,
      });
      return z.NEVER;
    }
    return url;
  });

/**
 * The environment schema: variables of contract 06 plus the cluster's own. Every value is parsed once
 * at start-up; a bad value throws ConfigError naming the variable (contract 06, D57).
 */
const envSchema = z.object({
  PORT: int(3000, 0, 65535),
  HOST: z.string().optional().transform((v) => v || '0.0.0.0'),
  SERVER_URL: z.string().optional(),
  DATA_DIR: path('~/.maestro/data'),
  SESSION_DIR: path('~/.maestro/sessions'),
  SKILLS_DIR: path('~/.agents-ui/maestro-skills'),
  DATABASE_TYPE: z.string().optional(),
  MANIFEST_GENERATOR: enumOf(['cli', 'server'] as const, 'cli'),
  /**
   * The `maestro` CLI the worker runs for `manifest generate`: by default this package's own
   * (`dist/cli/index.js` of the install the worker runs from), never whatever `maestro` is on PATH (an
   * original CLI there reads DATA_DIR files this server never writes; issue 14).
   */
  MAESTRO_CLI_PATH: z.string().optional().transform((v) => v || OWN_CLI),
  /** Boolean (see `bool`), default true: CORS off only when false (contract 06 D40; `0` reads as false, issue 16). */
  CORS_ENABLED: bool(true),
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? ['*'] : v.split(',').map((s) => s.trim()).filter(Boolean))),
  /** Boolean (see `bool`), default false (contract 06; `1` reads as true, issue 16). */
  CORS_CREDENTIALS: bool(false),
  LOG_LEVEL: enumOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  /** json | pretty; unset = pretty only when stdout is a TTY and NODE_ENV=development (issue 6). */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional().or(z.literal('').transform(() => undefined)),
  /** Boolean (see `bool`), default false (contract 06). */
  DEBUG: bool(false),
  NODE_ENV: enumOf(['development', 'production', 'test'] as const, 'development'),

  REDIS_URL: redisUrl,
  MAESTRO_REDIS_PREFIX: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const p = v === undefined || v === '' ? 'maestro:' : v;
      if (/[{}\s]/.test(p)) {
        ctx.addIssue({ code: 'custom', message: `must not contain braces or spaces, got '${p}'` });
        return z.NEVER;
      }
      return p;
    }),
  MAESTRO_AUTH: enumOf(['required', 'disabled'] as const, 'required'),
  REDIS_COMMAND_TIMEOUT_MS: int(5000, 100, 600_000),
  EVENT_STREAM_MAXLEN: int(10_000, 100, 10_000_000),
  IDEMPOTENCY_TTL_SECONDS: int(86_400, 60, 30 * 86_400),
  /**
   * How long an Idempotency-Key stays "in progress" after its request's time limit (REQUEST_TIMEOUT_MS,
   * or SPAWN_WAIT_MS for a spawn), ms: then a retry takes the key over (contract 00 "Concurrency and
   * retries"; issue 13, item 1).
   */
  IDEMPOTENCY_LEASE_MS: int(5_000, 0, 600_000),
  BODY_LIMIT_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  MAX_TITLE_LENGTH: int(500, 1, 100_000),
  MAX_TEXT_BYTES: int(100 * 1024, 1, 10 * 1024 * 1024),
  MAX_ID_LENGTH: int(128, 8, 1024),
  MAX_ARRAY_LENGTH: int(1000, 1, 100_000),
  MAX_METADATA_BYTES: int(64 * 1024, 1, 1024 * 1024),
  WS_HEARTBEAT_MS: int(30_000, 100, 3_600_000),
  WS_MAX_BUFFERED_BYTES: int(8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  WORKER_CONCURRENCY: int(4, 1, 256),
  MANIFEST_TIMEOUT_MS: int(30_000, 100, 3_600_000),
  SPAWN_WAIT_MS: int(30_000, 0, 600_000),
  /** Dependencies one task may have, and tasks that may wait for one task (contract 08 "Dependencies"). */
  TASK_MAX_DEPENDENCIES: int(100, 1, 10_000),
  TASK_MAX_DEPENDENTS: int(200, 1, 10_000),
  /**
   * Tasks the cycle check of a new dependency may visit, in its one atomic step (commit.lua `acyclic`:
   * an HGET and a JSON decode per task while Redis runs nothing else); beyond → 400. At most 1000, so
   * that one such step stays within about a page's work (DESIGN.md "Redis rules").
   */
  TASK_DEPENDENCY_SEARCH_MAX: int(1000, 10, 1000),
  /** A claim's lease when the request gives none, and the longest one may ask for, ms (contract 08 "Claims"). */
  CLAIM_LEASE_MS: int(600_000, 1000, 7 * 86_400_000),
  CLAIM_LEASE_MAX_MS: int(86_400_000, 1000, 30 * 86_400_000),
  /** How often the workers release claims whose lease lapsed, ms. */
  CLAIM_SWEEP_MS: int(5000, 100, 3_600_000),
  /**
   * How long a synchronous spawn that failed is remembered, s: the same request again without an
   * Idempotency-Key within this window retries that session instead of making another (issue 14).
   */
  SPAWN_RETRY_WINDOW_SECONDS: int(60, 1, 86_400),
  SPAWN_ATTEMPTS: int(3, 1, 100),
  SPAWN_BACKOFF_MS: int(1000, 0, 600_000),
  SPAWN_LOCK_MS: int(30_000, 500, 600_000),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 600_000),
  /**
   * After SIGTERM, how long an API replica keeps serving with `/ready` answering 503 before it stops
   * listening, ms (issue 16: out of rotation before the drain); at most SHUTDOWN_TIMEOUT_MS − 2 s.
   */
  SHUTDOWN_DRAIN_DELAY_MS: int(0, 0, 120_000),
  /**
   * Port of the operations endpoints. Workers: default 9464 (0 = any free port). API replicas: unset =
   * none (the endpoints sit on the main port behind METRICS_TOKEN); set = served there without a token.
   */
  METRICS_PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from 0 to 65535, got '${v}'` });
        return z.NEVER;
      }
      return n;
    }),
  /** Cron pattern (see `cron`) of scheduled backups; unset = leave as is, `off` = remove. */
  BACKUP_CRON: cron(undefined),
  BACKUP_DIR: path('~/.maestro/backups'),
  BACKUP_KEEP: int(10, 1, 100_000),
  /** Sessions finished longer than this many days ago are archived; 0 = never. */
  SESSION_RETENTION_DAYS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 30;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) {
        ctx.addIssue({ code: 'custom', message: `must be a number of days ≥ 0, got '${v}'` });
        return z.NEVER;
      }
      return n;
    }),
  /** Cron pattern of the spawn reconciler (default every minute; `off` = remove): see SPAWN_RECONCILE_AFTER_MS. */
  RECONCILE_CRON: cron('* * * * *'),
  /**
   * A spawn in flight longer than this (ms) whose job is gone or failed for good and that has no
   * manifest is finished by the reconciler: `failed`, with `metadata.error` (issue 13, item 4).
   */
  SPAWN_RECONCILE_AFTER_MS: int(120_000, 0, 86_400_000),
  /** Cron pattern of the retention job (default hourly at minute 17); `off` = remove. */
  RETENTION_CRON: cron('17 * * * *'),
  NODE_ID: z.string().optional(),
  REQUEST_TIMEOUT_MS: int(30_000, 0, 600_000),
  /** `kid:secret[,kid2:secret2…]`, secrets ≥ 32 characters, checked at start-up (see `jwtKeys`); unset = a key kept in Redis. */
  MAESTRO_JWT_KEYS: jwtKeys,
  ACCESS_TOKEN_TTL_SECONDS: int(900, 10, 86_400),
  REFRESH_TOKEN_TTL_SECONDS: int(30 * 86_400, 60, 365 * 86_400),
  MAESTRO_CREDENTIALS_FILE: path('~/.maestro/credentials'),
  /**
   * The first admin (issue 16; the Helm chart passes them from a Secret): when Redis has no user yet,
   * the API creates this admin with this password instead of `admin@localhost` with a random one. Both
   * or neither; the password is PASSWORD_MIN_LENGTH..PASSWORD_MAX_LENGTH characters. Read on a first start only.
   */
  MAESTRO_ADMIN_EMAIL: adminEmail,
  MAESTRO_ADMIN_PASSWORD: adminPassword,
  /**
   * How long an API replica keeps a resolved credential's principal (ms; src/api/middleware/
   * principal-cache.ts): an API key by the SHA-256 of the key, a user's roles by user id; a verified
   * access token's payload until its `exp`. Entries are dropped at once on `<prefix>auth` (revoked key,
   * membership change); while the replica's subscription is down nothing is cached. 0 = no cache.
   */
  PRINCIPAL_CACHE_TTL_MS: int(30_000, 0, 3_600_000),
  /** Most entries each of the principal cache's two maps (principals, verified tokens) holds; the oldest goes first. */
  PRINCIPAL_CACHE_MAX_ENTRIES: int(10_000, 1, 10_000_000),
  /**
   * A replica leases max(1, floor(limit / this)) hits of a rate-limit window from Redis at once
   * (src/api/middleware/leased-rate-store.ts): one Redis call per that many requests of a key, and no
   * more than the limit passes per window; a large value counts every hit in Redis.
   */
  RATE_LIMIT_LEASE_DIVISOR: int(100, 1, 1_000_000_000),
  /** Keys (clients) whose leased hits one replica keeps per limiter at most; the oldest lease goes first (its unused hits are lost, never granted twice). */
  RATE_LIMIT_LOCAL_KEYS: int(100_000, 1, 10_000_000),
  RATE_LIMIT_PER_MINUTE: int(10_000, 0, 10_000_000),
  RATE_LIMIT_PRINCIPAL_PER_MINUTE: int(10_000, 0, 10_000_000),
  RATE_LIMIT_AUTH_PER_MINUTE: int(20, 0, 1_000_000),
  /**
   * The queue dashboard (`/admin/queues`, issue 16) accepts an admin's email and password by HTTP Basic
   * auth; a verified pair is remembered by this replica for this many ms (a hash of it, never the
   * password), so that the page's polling does not run scrypt (~50–100 ms) per request. 0 = verify every request.
   */
  ADMIN_LOGIN_CACHE_MS: int(60_000, 0, 3_600_000),
  /** Most verified email + password pairs the queue dashboard remembers per replica; the oldest goes first. */
  ADMIN_LOGIN_CACHE_MAX_ENTRIES: int(1_000, 1, 1_000_000),
  RATE_LIMIT_SPAWN_PER_MINUTE: int(120, 0, 1_000_000),
  /** `/api` lists without `?limit=` answer the whole list up to this many items, then a `Link` (contract 00 "Lists"). */
  LEGACY_LIST_MAX: int(100_000, 1, 10_000_000),
  /** Legacy WebSocket clients get at most one whole `session:updated` per session per this many ms (contract 00 "Events"). */
  SESSION_UPDATE_COALESCE_MS: int(250, 0, 60_000),
  // ── tenancy limits (security issue 11; contract 00 "Tenancy limits") ─────────────────────────
  /** Open TCP connections per replica, in total, WebSockets included (over it: 429 and close; src/api/connection-limits.ts). */
  MAX_CONNECTIONS: int(10_000, 1, 1_000_000),
  /** Open TCP connections per client IP (IPv6 per /56), WebSockets included; peers that are trusted proxies (TRUST_PROXY) are not counted per IP. */
  MAX_CONNECTIONS_PER_IP: int(1_000, 1, 1_000_000),
  /** A request's headers must arrive within this many ms of the connection or of the request's first byte, else 408 and close (silent sockets, slowloris; Node `headersTimeout`). */
  HTTP_HEADERS_TIMEOUT_MS: int(20_000, 100, 600_000),
  /** A kept-alive connection waiting for its next request is closed after this many ms (Node `keepAliveTimeout`, plus Node's 1 s); keep it above the proxy's upstream keep-alive (nginx: 60 s). */
  HTTP_IDLE_TIMEOUT_MS: int(65_000, 100, 3_600_000),
  /** WebSockets one user may hold across the cluster (over it: close 1013). */
  WS_MAX_CONNECTIONS_PER_USER: int(50, 1, 1_000_000),
  /** Stream entries a replay reads per Redis call, per socket (contract 00 "Events": bounded replay). */
  WS_REPLAY_PAGE: int(100, 1, 10_000),
  /** Tasks one spawn may name (contract 00 "Spawn"). */
  SPAWN_MAX_TASKS: int(50, 1, 10_000),
  /** Largest manifest a spawn may produce, bytes of JSON. */
  MANIFEST_MAX_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  /** Spawns one user may have in flight (status `spawning`) at once (over it: 429). */
  SPAWN_MAX_IN_FLIGHT_PER_USER: int(20, 1, 100_000),
  /** Active (unrevoked) API keys per user, session keys not counted (over it: 429). */
  MAX_API_KEYS_PER_USER: int(100, 1, 1_000_000),
  /** Active keys minted for one session (spawn response, `POST /sessions/:id/api-key`). */
  MAX_API_KEYS_PER_SESSION: int(5, 1, 1000),
  /** A spent refresh token is kept this long so that its reuse is detected (s); then it is gone. */
  REFRESH_REUSE_WINDOW_SECONDS: int(86_400, 60, 365 * 86_400),
  /** Deepest nesting of arrays/objects accepted in a JSON body (deeper: 400). */
  MAX_JSON_DEPTH: int(64, 2, 10_000),
  /**
   * Bearer token that opens `/metrics`, `/health?deep=1`, `/ws-status` and `/docs` on the main port
   * (unset: those answer admins only, or anyone with MAESTRO_AUTH=disabled).
   */
  METRICS_TOKEN: z.string().optional().transform((v) => (v ? v : undefined)),
  /** Express `trust proxy` (see `trustProxy`): false, true, a hop count or addresses/subnets. */
  TRUST_PROXY: trustProxy,
});

/** Parsed configuration (see envSchema for each variable and its default). */
export type Config = z.output<typeof envSchema> & { SERVER_URL: string; NODE_ID: string };

/**
 * Parses the environment once. Throws ConfigError("Invalid configuration: PORT must be …") naming
 * every bad variable; callers at start-up print it and exit 1 (contract 06).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema
    .superRefine((c, ctx) => {
      if ((c.MAESTRO_ADMIN_EMAIL === undefined) !== (c.MAESTRO_ADMIN_PASSWORD === undefined)) {
        const missing = c.MAESTRO_ADMIN_EMAIL === undefined ? 'MAESTRO_ADMIN_EMAIL' : 'MAESTRO_ADMIN_PASSWORD';
        ctx.addIssue({ code: 'custom', path: [missing], message: 'must be set with MAESTRO_ADMIN_EMAIL and MAESTRO_ADMIN_PASSWORD both or neither' });
      }
    })
    .safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    SERVER_URL: c.SERVER_URL || `http://localhost:${c.PORT}`,
    NODE_ID: c.NODE_ID || `${hostname()}:${process.pid}`,
  };
}
