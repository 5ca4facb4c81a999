import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/**
 * The `Idempotency-Key` of the request being handled, as the stores see it (contract 00 "Concurrency
 * and retries": the outcome is recorded in the same atomic step as the write). Every commit a request
 * makes while one is current also writes its result under the key in the commit's own hash slot (see
 * `Commit.exec` and commit.lua `outcome`), and a retry's commit with the same key and ordinal answers
 * that stored result instead of writing again — whatever happened to the replica or the first response.
 */
export interface RequestOutcome {
  /** sha-256 (hex, 32 chars) of the credential scope and the key: the name part of the slot's record. */
  readonly id: string;
  /** sha-256 (hex) of the request (method, URL, body): a record made by another request is a 409. */
  readonly hash: string;
  /** How long a commit's recorded result is kept, s (IDEMPOTENCY_TTL_SECONDS). */
  readonly ttlSeconds: number;
  /**
   * ms of the key's first claim, the same for every retry while the claim record lives: what a create
   * whose id would otherwise be new on every retry (a project: its own hash slot) derives its id from.
   */
  readonly firstClaimMs: number;
  /**
   * Commits applied or replayed so far by this request, by the slot record they went to (record key →
   * count): the next one's ordinal in that slot is count + 1. Counted per slot, so a retry that skips
   * a commit in another slot (the first attempt did it, and the retry's reads see its effect) still
   * meets its later commits under the same ordinals.
   */
  readonly commits: Map<string, number>;
  /** Ids made by `stableId` so far (each call gets the next). */
  stableIds: number;
}

const current = new AsyncLocalStorage<RequestOutcome>();

/** Runs `fn` (and everything it starts) with `outcome` as the current request's key. */
export function runWithOutcome<T>(outcome: RequestOutcome, fn: () => T): T {
  return current.run(outcome, fn);
}

/** The current request's key, or undefined (no key, or outside a request). */
export function currentOutcome(): RequestOutcome | undefined {
  return current.getStore();
}

/** The `id` of a RequestOutcome: 32 hex chars of sha-256(scope NUL key). */
export function outcomeId(scope: string, key: string): string {
  return createHash('sha256').update(scope).update('\0').update(key).digest('hex').slice(0, 32);
}

/**
 * An id for an entity created under the current key that is the same on every retry (`<prefix>_<ms of
 * the first claim>_<9 base-36 chars of the key's hash>`, the shape of `newId`), or undefined without a
 * key. For creates whose hash slot is the new entity's own (a project): a retry lands on the same slot,
 * where the first attempt's recorded result is found.
 */
export function stableId(prefix: string): string | undefined {
  const o = current.getStore();
  if (!o) return undefined;
  const n = o.stableIds++;
  const digest = createHash('sha256').update(o.id).update('\0').update(prefix).update('\0').update(String(n)).digest();
  const rand = BigInt('0x' + digest.subarray(0, 8).toString('hex')).toString(36).padStart(9, '0').slice(0, 9);
  return `${prefix}_${o.firstClaimMs}_${rand}`;
}
