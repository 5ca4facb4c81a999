/**
 * Wire shapes of Maestro's entities (contract 01). All timestamps are epoch ms. `version` (+1 per
 * change) is additive (contract 00, "Concurrency"). JSON omits keys whose value is undefined.
 */

/** Enums of contract 01 (validated on input, contract 00 "Input"). */
export const TASK_STATUSES = ['todo', 'in_progress', 'completed', 'cancelled', 'blocked'] as const;
export const TASK_PRIORITIES = ['low', 'medium', 'high'] as const;
export const TASK_SESSION_STATUSES = ['queued', 'working', 'needs_input', 'blocked', 'completed', 'failed', 'skipped'] as const;
export const MODELS = ['haiku', 'sonnet', 'opus'] as const;
/** The original six plus `running`, which the CLI sends (contract 00 "Input"). */
export const SESSION_STATUSES = ['spawning', 'idle', 'working', 'completed', 'failed', 'stopped', 'running'] as const;
export const WORKER_STRATEGIES = ['simple', 'queue', 'tree'] as const;
export const ROLES = ['worker', 'orchestrator'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TaskPriority = (typeof TASK_PRIORITIES)[number];
export type TaskSessionStatus = (typeof TASK_SESSION_STATUSES)[number];
export type Model = (typeof MODELS)[number];
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type WorkerStrategy = (typeof WORKER_STRATEGIES)[number];
export type Role = (typeof ROLES)[number];

export interface Project {
  id: string;
  name: string;
  workingDir: string;
  description: string;
  metadata?: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  version: number;
}

export interface Task {
  id: string;
  projectId: string;
  parentId: string | null;
  title: string;
  description: string;
  status: TaskStatus;
  sessionStatus?: TaskSessionStatus;
  priority: TaskPriority;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  initialPrompt: string;
  sessionIds: string[];
  skillIds: string[];
  agentIds: string[];
  dependencies: string[];
  /** Derived (contract 08 "Dependencies"): the dependencies not completed yet. */
  blockedBy: string[];
  /** Derived: the tasks that wait for this one. */
  dependents: string[];
  /** The session working on it, since `at`, until `expiresAt` (ms), or null (contract 08 "Claims"). */
  claimedBy: { sessionId: string; at: number; expiresAt: number } | null;
  model?: Model;
  metadata?: Record<string, unknown>;
  version: number;
}

export interface SessionEvent {
  id: string;
  timestamp: number;
  type: string;
  data?: unknown;
}

export interface SessionTimelineEvent {
  id: string;
  type: string;
  timestamp: number;
  message?: string;
  taskId?: string;
  metadata?: Record<string, unknown>;
}

export interface Session {
  id: string;
  projectId: string;
  taskIds: string[];
  name: string;
  agentId?: string;
  env: Record<string, string>;
  strategy: WorkerStrategy;
  status: string;
  startedAt: number;
  lastActivity: number;
  completedAt: number | null;
  hostname: string;
  platform: string;
  events: SessionEvent[];
  timeline: SessionTimelineEvent[];
  metadata?: Record<string, unknown>;
  /** Set (ms) while the session is archived by retention (additive; issue 6). */
  archivedAt?: number;
  version: number;
}

export type QueueItemStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'skipped';

export interface QueueItem {
  taskId: string;
  status: QueueItemStatus;
  addedAt: number;
  startedAt?: number;
  completedAt?: number;
  failReason?: string;
}

export interface QueueState {
  sessionId: string;
  strategy: 'queue';
  items: QueueItem[];
  currentIndex: number;
  createdAt: number;
  updatedAt: number;
}

export interface QueueStats {
  total: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  skipped: number;
}

export interface Template {
  id: string;
  name: string;
  role: Role;
  content: string;
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
  version: number;
}

/** Original id format: `<prefix>_<ms>_<rand>`, rand = 9 chars of [0-9a-z] (contract 01 "IDs"). */
export function newId(prefix: 'proj' | 'task' | 'sess' | 'evt' | 'tmpl', now = Date.now()): string {
  let rand = '';
  while (rand.length < 9) rand += Math.random().toString(36).slice(2);
  return `${prefix}_${now}_${rand.slice(0, 9)}`;
}
