import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The built CLI (`npm test` builds first). */
export const CLI = join(resolve(import.meta.dirname, '../..'), 'dist/cli/index.js');

/** Outcome of one CLI run: exit status (null when killed, e.g. by the timeout) and its output. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `maestro <args>` as a child process with this process's environment plus `env`, asynchronously
 * (an API under test may run in this very process); killed after `timeoutMs` (ms); `o.input` is its stdin, `o.cwd` its working directory.
 */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, o: { input?: string; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((res) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs, ...(o.cwd ? { cwd: o.cwd } : {}) }, (err, stdout, stderr) =>
      res({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
    // what the CLI reads on stdin (a hook's input), then end of input
    child.stdin?.end(o.input ?? '');
  });
}
