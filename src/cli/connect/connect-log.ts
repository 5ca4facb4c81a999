/**
 * The log of `maestro connect`, for the person who runs it in a terminal: one line per thing that
 * happened, `<ISO time> <message>`; information on stdout, warnings and errors on stderr. A message
 * given with a `key` is printed at most once per `everyMs` (a revoked key answered 401 to a hundred
 * requests: one line, not a hundred).
 */
export interface ConnectLog {
  info(message: string): void;
  warn(message: string, key?: string, everyMs?: number): void;
  error(message: string, key?: string, everyMs?: number): void;
  /** Printed only with `--verbose` (every forwarded request). */
  debug(message: string): void;
}

/** Where the lines go (process.stdout / process.stderr unless a test passes its own). */
export interface LogSinks {
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
}

/** How often a keyed message may repeat by default, ms. */
const DEFAULT_EVERY_MS = 10_000;

/** Creates the log; `verbose` turns `debug` on. */
export function createConnectLog(verbose: boolean, sinks: LogSinks = { out: process.stdout, err: process.stderr }): ConnectLog {
  const last = new Map<string, number>();
  const due = (key: string | undefined, everyMs: number) => {
    if (key === undefined) return true;
    const now = Date.now();
    const at = last.get(key);
    if (at !== undefined && now - at < everyMs) return false;
    last.set(key, now);
    return true;
  };
  const line = (message: string) => `${new Date().toISOString()} ${message}\n`;
  return {
    info: (m) => void sinks.out.write(line(m)),
    warn: (m, key, every = DEFAULT_EVERY_MS) => {
      if (due(key, every)) sinks.err.write(line(`warning: ${m}`));
    },
    error: (m, key, every = DEFAULT_EVERY_MS) => {
      if (due(key, every)) sinks.err.write(line(`error: ${m}`));
    },
    debug: (m) => {
      if (verbose) sinks.out.write(line(m));
    },
  };
}
