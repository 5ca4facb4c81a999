import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { printResult } from '../output.js';

/** A local skill: `~/.skills/<name>/skill.md` (or `SKILL.md`), with its `manifest.json` when there is one. */
interface LocalSkill {
  name: string;
  path: string;
  description: string;
  instructions: string;
  problems: string[];
}

/** The skills under `dir` (contract 09 §3: the original reads `~/.skills/*\/skill.md`; no request). */
async function localSkills(dir: string): Promise<LocalSkill[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
  const out: LocalSkill[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const problems: string[] = [];
    let instructions = '';
    for (const file of ['skill.md', 'SKILL.md']) {
      instructions = await readFile(join(path, file), 'utf8').catch(() => '');
      if (instructions) break;
    }
    if (!instructions) problems.push('no skill.md');
    let description = '';
    const manifest = await readFile(join(path, 'manifest.json'), 'utf8').catch(() => undefined);
    if (manifest !== undefined) {
      try {
        description = String((JSON.parse(manifest) as { description?: unknown }).description ?? '');
      } catch {
        problems.push('manifest.json is not valid JSON');
      }
    }
    if (!description) description = /^description:\s*(.+)$/m.exec(instructions)?.[1]?.trim() ?? instructions.split('\n').find((l) => l.trim() && !l.startsWith('#') && l.trim() !== '---')?.trim() ?? '';
    out.push({ name, path, description, instructions, problems });
  }
  return out;
}

/**
 * `maestro skill list|info <name>|validate` over `~/.skills` (MAESTRO_SKILLS_DIR overrides): local
 * files, no request; `info` of a missing skill says so and exits 0, as the original (contract 09 §3).
 */
export function registerSkillCommands(program: Command): void {
  const dir = () => process.env.MAESTRO_SKILLS_DIR || join(homedir(), '.skills');
  const skill = program.command('skill').description('local skills (~/.skills)');
  skill
    .command('list')
    .description('list local skills')
    .action(async () => {
      const skills = await localSkills(dir());
      printResult(skills.map(({ name, path, description }) => ({ name, path, description })), (v) => v.map((s: LocalSkill) => `${s.name}  ${s.description}`).join('\n') || `(no skills in ${dir()})`);
    });
  skill
    .command('info <name>')
    .description('show a local skill')
    .action(async (name: string) => {
      const found = (await localSkills(dir())).find((s) => s.name === name);
      if (!found) {
        printResult({ found: false, name, message: `Skill '${name}' not found in ${dir()}` }, (v) => v.message);
        return;
      }
      printResult({ name: found.name, path: found.path, description: found.description, instructions: found.instructions }, (v) => `${v.name} (${v.path})\n\n${v.instructions}`);
    });
  skill
    .command('validate')
    .description('check every local skill has its instructions')
    .action(async () => {
      const skills = await localSkills(dir());
      const results = skills.map((s) => ({ name: s.name, valid: s.problems.length === 0, problems: s.problems }));
      printResult({ valid: results.every((r) => r.valid), skills: results }, (v) => v.skills.map((r: { name: string; valid: boolean; problems: string[] }) => `${r.valid ? '✔' : '✖'} ${r.name}${r.problems.length ? `: ${r.problems.join(', ')}` : ''}`).join('\n') || '(no skills)');
    });
}
