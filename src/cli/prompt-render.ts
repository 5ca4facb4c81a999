import type { Manifest } from '../shared/spawn/manifest.js';
import { defaultTemplate } from '../shared/templates/default-templates.js';

/**
 * The prompt `maestro whoami` prints (contract 04, 09 §3 and §6: the original renders its bundled
 * template for the session's role locally): the role's default template (shared/templates, the same the
 * server seeds) with its `${NAME}` variables filled from the manifest, then the commands this session
 * may run. Unknown variables are left as they are.
 */
export function renderPrompt(m: Manifest, allowed: string[]): string {
  const first = m.tasks[0]!;
  const strategy = m.strategy ?? 'simple';
  const bullets = (xs: string[]) => xs.map((x) => `- ${x}`).join('\n');
  const json = (v: unknown) => (v && Object.keys(v as object).length ? '```json\n' + JSON.stringify(v, null, 2) + '\n```' : '(none)');
  const vars: Record<string, string> = {
    TASK_ID: first.id,
    TASK_TITLE: first.title,
    TASK_PRIORITY: first.priority ?? 'medium',
    TASK_DESCRIPTION: first.description || '(no description)',
    ACCEPTANCE_CRITERIA: bullets(first.acceptanceCriteria),
    ALL_TASKS: m.tasks.length > 1 ? `## All Tasks in This Session\n\n${m.tasks.map((t) => `- **${t.id}**: ${t.title} (${t.priority ?? 'medium'})`).join('\n')}` : '',
    TASK_COUNT: String(m.tasks.length),
    STRATEGY: strategy,
    STRATEGY_INSTRUCTIONS:
      strategy === 'queue'
        ? '## Queue Strategy\n\nYour tasks come from a queue: run `maestro queue start` to take the next one, `maestro queue complete` (or `fail`, `skip`) when done, and repeat until the queue is empty.'
        : '',
    CODEBASE_CONTEXT: json(m.context?.codebaseContext),
    RELATED_TASKS: m.context?.relatedTasks?.length ? `## Related Tasks\n\n${m.context.relatedTasks.map((t) => `- ${String(t.id ?? '')}: ${String(t.title ?? '')}`).join('\n')}` : '',
    PROJECT_STANDARDS: m.context?.projectStandards ? `## Project Standards\n\n${json(m.context.projectStandards)}` : '',
  };
  const body = defaultTemplate(m.role).replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => vars[name] ?? whole);
  return `${body.trimEnd()}\n\n## Commands You May Run\n\n${allowed.map((c) => `- \`maestro ${c.replace(':', ' ')}\``).join('\n')}\n`;
}
