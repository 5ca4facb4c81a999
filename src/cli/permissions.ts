/**
 * The permission guard of the original CLI (contract 09 §6): when MAESTRO_MANIFEST_PATH names a valid
 * manifest, the guarded commands a session may run depend on its role and strategy;
 * `session.allowedCommands` replaces the set (the core commands are always kept). Unset, missing or
 * invalid manifest → everything allowed. Command names are `group:sub` (`task:update`) or a single
 * word (`whoami`).
 */

/** Commands run by every role (never removed by `session.allowedCommands`). */
const CORE = ['whoami', 'status', 'commands'];

const WORKER = [
  ...CORE,
  'report:progress',
  'report:complete',
  'report:blocked',
  'report:error',
  'report:needs-input',
  'task:list',
  'task:get',
  'task:create',
  'task:children',
  // this server's coordination commands (contract 08)
  'task:ready',
  'task:claim',
  'task:renew',
  'task:release',
  'session:info',
  'session:register',
  'session:complete',
  'track-file',
  'worker:init',
];
const ORCHESTRATOR = [
  ...WORKER.filter((c) => c !== 'worker:init'),
  'task:update',
  'task:complete',
  'task:block',
  'task:tree',
  'task:depends',
  'session:list',
  'session:spawn',
  'project:list',
  'project:get',
  'project:create',
  'project:delete',
  'orchestrator:init',
];
const QUEUE = ['queue:top', 'queue:start', 'queue:complete', 'queue:fail', 'queue:skip', 'queue:list', 'queue:push', 'queue:status'];

/** Every command the guard knows (for `maestro commands`: what is hidden). */
export const GUARDABLE = [...new Set([...ORCHESTRATOR, ...WORKER, ...QUEUE])];

/** Groups whose every subcommand is guarded, and the single guarded session subcommands (contract 09 §6). */
export function isGuarded(name: string): boolean {
  const [group, sub] = name.split(':');
  if (group === 'task' || group === 'project' || group === 'queue' || group === 'report') return true;
  return group === 'session' && (sub === 'list' || sub === 'info' || sub === 'spawn');
}

/** The commands allowed to `role` with `strategy`, or `allowedCommands` (plus the core ones) when given. */
export function allowedCommands(role: string, strategy: string, allowed?: string[]): string[] {
  if (allowed?.length) return [...new Set([...CORE, ...allowed])];
  const base = role === 'orchestrator' ? ORCHESTRATOR : WORKER;
  return strategy === 'queue' ? [...base, ...QUEUE] : base;
}

/** The error text of a denied command (the original's, contract 09 §6). */
export function deniedMessage(name: string, role: string, strategy: string): string {
  return `Command '${name}' is not allowed for ${role} role with ${strategy} strategy.`;
}
