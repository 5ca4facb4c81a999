/**
 * A session's report about its work: the one definition of what `maestro report <kind>` does
 * (contract 02 "Calls the real CLI makes", 09 §3), shared by the CLI command and the MCP tools
 * `report_progress` / `report_blocked` / `report_complete` (contract 08 "MCP": "timeline + status as
 * `maestro report` does"). It talks to the API only through `ReportApi`, so it runs over the CLI's
 * HTTP client and over the replica's own loopback caller alike.
 */

/** What a report needs of an API client: one request to `/api<path>` (body JSON), rejecting on a non-2xx answer. */
export interface ReportApi {
  request(method: string, path: string, body?: unknown): Promise<unknown>;
}

/** `maestro report <kind>` mapping (contract 02): the task's `sessionStatus` and the timeline entry's `type`. */
export const REPORTS = {
  progress: { sessionStatus: 'working', type: 'progress' },
  complete: { sessionStatus: 'completed', type: 'task_completed' },
  blocked: { sessionStatus: 'blocked', type: 'task_blocked' },
  error: { sessionStatus: 'failed', type: 'error' },
  'needs-input': { sessionStatus: 'needs_input', type: 'needs_input' },
} as const satisfies Record<string, { sessionStatus: string; type: string }>;

/** A report kind: `progress`, `complete`, `blocked`, `error`, `needs-input`. */
export type ReportKind = keyof typeof REPORTS;

/** True when `kind` is one of REPORTS. */
export function isReportKind(kind: string): kind is ReportKind {
  return Object.hasOwn(REPORTS, kind);
}

/**
 * Reports `kind` with `message` for session `sessionId` (contract 02): with tasks, per task
 * `PATCH /tasks/:t {sessionStatus, updateSource:'session', sessionId}` then
 * `POST /sessions/:sid/timeline {type, message, taskId}`; without tasks one timeline entry, and for
 * `complete` also `PATCH /sessions/:sid {status:'completed'}`. `base` is put before every path: `''`
 * for the original's `/api` paths (the CLI), `'/v1'` for `/api/v1` (bounded session renderings).
 * The first failing request rejects with that client's error (nothing is rolled back: each step is
 * one API write, as the original CLI's).
 */
export async function reportToSession(
  api: ReportApi,
  sessionId: string,
  kind: ReportKind,
  message: string,
  tasks: readonly string[],
  base = '',
): Promise<{ sessionCompleted: boolean }> {
  const map = REPORTS[kind];
  const sid = encodeURIComponent(sessionId);
  if (tasks.length) {
    for (const t of tasks) {
      await api.request('PATCH', `${base}/tasks/${encodeURIComponent(t)}`, { sessionStatus: map.sessionStatus, updateSource: 'session', sessionId });
      await api.request('POST', `${base}/sessions/${sid}/timeline`, { type: map.type, message, taskId: t });
    }
    return { sessionCompleted: false };
  }
  await api.request('POST', `${base}/sessions/${sid}/timeline`, { type: map.type, message });
  if (kind !== 'complete') return { sessionCompleted: false };
  await api.request('PATCH', `${base}/sessions/${sid}`, { status: 'completed' });
  return { sessionCompleted: true };
}
