import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { RedisClient } from './redis-connection.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'redis-scripts');
const lib = readFileSync(join(dir, 'render-lib.lua'), 'utf8');
const load = (name: string, withLib = true) =>
  (withLib ? lib + '\n' : '') + readFileSync(join(dir, `${name}.lua`), 'utf8');

/** Lua scripts by command name, each loaded from `redis-scripts/<name>.lua` (render-lib prepended). */
const SCRIPTS = {
  maestroCommit: load('commit'),
  maestroRender: load('render'),
  maestroPage: load('page'),
  maestroRenderMany: load('render-many'),
  maestroReadKeys: load('read-keys', false),
  maestroSnapshot: load('snapshot', false),
  maestroRefreshRotate: load('refresh-rotate', false),
  maestroSlotAcquire: load('slot-acquire', false),
  maestroDocRebuild: load('doc-rebuild'),
  maestroIdempotencyClaim: load('idempotency-claim', false),
  maestroIdempotencyRelease: load('idempotency-release', false),
  maestroClaimsReschedule: load('claims-reschedule', false),
  maestroClaimsMark: load('claims-mark', false),
} as const;

/** The typed surface of the scripts once defined on a connection (variable key count: numkeys first). */
export interface ScriptCommands {
  maestroCommit(numKeys: number, ...keysAndArgs: string[]): Promise<(string | null | number)[]>;
  maestroRender(numKeys: number, key: string, kind: string): Promise<[string, string] | null>;
  maestroPage(numKeys: number, ...keysAndArgs: (string | number)[]): Promise<(string | number)[]>;
  maestroRenderMany(numKeys: number, ...keysAndArgs: string[]): Promise<(string | null)[]>;
  /** Backups: `[type, pttl, contents]` per key (see read-keys.lua). */
  maestroReadKeys(numKeys: number, ...keys: string[]): Promise<[string, number, string[]][]>;
  /** Backups: copies a slot's keys under a snapshot prefix; `[revision, key, pttl, …]` (snapshot.lua). */
  maestroSnapshot(numKeys: number, ...keysAndArgs: string[]): Promise<(string | number | null)[]>;
  /** Refresh-token rotation: `['ok', userId]` or `['invalid'|'revoked'|'reuse']` (refresh-rotate.lua). */
  maestroRefreshRotate(numKeys: 3, family: string, presented: string, successor: string, ...args: string[]): Promise<string[]>;
  /** A bounded slot in a sorted set: the 1-based count after adding, or 0 when full (slot-acquire.lua). */
  maestroSlotAcquire(numKeys: 1, key: string, member: string, deadlineMs: string, nowMs: string, cap: string): Promise<number>;
  /** Stores an entity hash's document from its fields (+ in registry KEYS[2]): 1, or 0 when gone (doc-rebuild.lua). */
  maestroDocRebuild(numKeys: 1, key: string, kind: string): Promise<number>;
  maestroDocRebuild(numKeys: 2, key: string, registry: string, kind: string): Promise<number>;
  /** Takes or finds an Idempotency-Key record: `[outcome, …]` (idempotency-claim.lua). */
  maestroIdempotencyClaim(numKeys: 1, key: string, hash: string, leaseMs: string, ttlSeconds: string): Promise<string[]>;
  /** Ends a pending Idempotency-Key record's hold: 1 released, 0 not pending (idempotency-release.lua). */
  maestroIdempotencyRelease(numKeys: 1, key: string): Promise<number>;
  /** The claim sweeper's compare-and-set of a project's earliest expiry: 1 changed, 0 not (claims-reschedule.lua). */
  maestroClaimsReschedule(numKeys: 2, index: string, generations: string, projectId: string, seen: string, next: string): Promise<number>;
  /** Marks a project as having a claim expiring at `expiresAt` ms: its new generation (claims-mark.lua). */
  maestroClaimsMark(numKeys: 2, index: string, generations: string, projectId: string, expiresAt: string): Promise<number>;
}

/** A connection with Maestro's scripts defined (EVALSHA with automatic fallback to EVAL). */
export type ScriptedRedis = RedisClient & ScriptCommands;

/** Defines every script on the connection (idempotent); returns it typed. */
export function withScripts(redis: RedisClient): ScriptedRedis {
  const r = redis as RedisClient & { __maestroScripts?: boolean };
  if (!r.__maestroScripts) {
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      redis.defineCommand(name, { lua });
    }
    r.__maestroScripts = true;
  }
  return redis as ScriptedRedis;
}
