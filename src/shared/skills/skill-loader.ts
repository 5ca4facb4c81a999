import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RedisClient } from '../redis-connection.js';

/** `manifest.json` of a skill (contract 01 "Skill"): nothing is required by the server (D39). */
export interface SkillManifest {
  name?: string;
  version?: string;
  description?: string;
  type?: string;
  [key: string]: unknown;
}

/** A loaded skill: its manifest and `skill.md` text ('' when absent). */
export interface LoadedSkill {
  id: string;
  manifest: SkillManifest;
  instructions: string;
}

/** API view of a skill (contract 01): defaults name ← id, description ← '', type ← 'system', version ← '1.0.0'. */
export interface SkillSummary {
  id: string;
  name: string;
  description: string;
  type: string;
  version: string;
}

/** Summary plus instructions. */
export interface SkillDetail extends SkillSummary {
  instructions: string;
}

/** Fixed skill lists per role (contract 05 `loadForRole`); `assignTo` is ignored. */
const ROLE_SKILLS: Record<'worker' | 'orchestrator', string[]> = {
  worker: ['maestro-cli', 'maestro-worker'],
  orchestrator: ['maestro-cli', 'maestro-orchestrator'],
};

/** Ids that could leave SKILLS_DIR are refused (contract 05 "Security": treated as not found). */
export function isSafeSkillId(id: string): boolean {
  return id.length > 0 && id.length <= 255 && id !== '.' && id !== '..' && !/[/\\\0]/.test(id);
}

/** The API view of a loaded skill, with `id` chosen by the caller (dir name, or manifest name for roles). */
export function summarize(skill: LoadedSkill, id = skill.id): SkillSummary {
  const m = skill.manifest;
  return {
    id,
    name: typeof m.name === 'string' && m.name ? m.name : skill.id,
    description: typeof m.description === 'string' ? m.description : '',
    type: typeof m.type === 'string' && m.type ? m.type : 'system',
    version: typeof m.version === 'string' && m.version ? m.version : '1.0.0',
  };
}

/**
 * Skills read from `SKILLS_DIR/<id>/{manifest.json, skill.md}` with the original loader's rules
 * (contract 05 "Loading rules"): a missing dir or manifest, or a manifest that does not parse, loads as
 * null; loaded skills are cached until reloaded. Cluster: `reload(id)` also publishes the id on a Redis
 * channel so every replica drops its cached copy; as a bound on staleness if a message is lost, cache
 * entries also expire after `ttlMs` (default 60 s).
 */
export class SkillLoader {
  private readonly cache = new Map<string, { skill: LoadedSkill; at: number }>();
  private publisher?: RedisClient;
  private subscriber?: RedisClient;
  private channel?: string;
  private readonly onMessage = (channel: string, id: string) => {
    if (channel === this.channel) this.cache.delete(id);
  };

  constructor(
    readonly skillsDir: string,
    private readonly ttlMs = 60_000,
  ) {}

  /** Loads skill `id` (cached), or null when it does not exist or its manifest does not parse. */
  async load(id: string): Promise<LoadedSkill | null> {
    if (!isSafeSkillId(id)) return null;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.skill;
    const dir = join(this.skillsDir, id);
    let manifest: SkillManifest;
    try {
      const parsed: unknown = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
      manifest = parsed as SkillManifest;
    } catch {
      return null;
    }
    let instructions = '';
    try {
      instructions = await readFile(join(dir, 'skill.md'), 'utf8');
    } catch {
      /* skill.md is optional */
    }
    const skill = { id, manifest, instructions };
    this.cache.set(id, { skill, at: Date.now() });
    return skill;
  }

  /** Ids of the subdirectories of SKILLS_DIR that hold a `manifest.json`, sorted (JS default sort). */
  async listAvailable(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.skillsDir);
    } catch {
      return [];
    }
    const ids: string[] = [];
    for (const name of names) {
      try {
        if ((await stat(join(this.skillsDir, name))).isDirectory() && (await stat(join(this.skillsDir, name, 'manifest.json'))).isFile()) ids.push(name);
      } catch {
        /* not a skill */
      }
    }
    return ids.sort();
  }

  /** Summaries of every loadable skill (unparsable ones skipped); any failure → []. */
  async listSummaries(): Promise<SkillSummary[]> {
    try {
      const out: SkillSummary[] = [];
      for (const id of await this.listAvailable()) {
        const s = await this.load(id);
        if (s) out.push(summarize(s));
      }
      return out;
    } catch {
      return [];
    }
  }

  /** The role's fixed skills that exist, with `id = manifest.name` (D38). */
  async loadForRole(role: 'worker' | 'orchestrator'): Promise<SkillSummary[]> {
    const out: SkillSummary[] = [];
    for (const id of ROLE_SKILLS[role]) {
      const s = await this.load(id);
      if (s) {
        const view = summarize(s);
        out.push({ ...view, id: view.name });
      }
    }
    return out;
  }

  /** Drops the cached copy here and on every replica, then loads again. */
  async reload(id: string): Promise<LoadedSkill | null> {
    this.cache.delete(id);
    if (this.publisher && this.channel && isSafeSkillId(id)) {
      await this.publisher.publish(this.channel, id).catch(() => undefined);
    }
    return this.load(id);
  }

  /**
   * Joins the cluster-wide invalidation: `subscriber` (a connection in subscriber mode, may be shared)
   * receives ids on `channel`; `publisher` publishes them on reload.
   */
  async attachInvalidation(subscriber: RedisClient, publisher: RedisClient, channel: string): Promise<void> {
    this.subscriber = subscriber;
    this.publisher = publisher;
    this.channel = channel;
    subscriber.on('message', this.onMessage);
    await subscriber.subscribe(channel);
  }

  /** Leaves the invalidation channel. */
  async detach(): Promise<void> {
    if (this.subscriber && this.channel) {
      this.subscriber.off('message', this.onMessage);
      await this.subscriber.unsubscribe(this.channel).catch(() => undefined);
    }
    this.subscriber = undefined;
    this.publisher = undefined;
  }
}
