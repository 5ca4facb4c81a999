/**
 * Entity hashes store each field as its JSON text (so the render script can concatenate documents).
 * These helpers convert between objects and such hashes.
 */

/** `{a: 1, b: 'x', c: undefined}` → `{a: '1', b: '"x"'}` (undefined fields are left out). */
export function encodeFields(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) out[k] = JSON.stringify(v);
  }
  return out;
}

/** Parses selected JSON-text fields of a hash read with HMGET (null → undefined). */
export function decodeFields<K extends string>(names: readonly K[], values: (string | null)[]): Record<K, unknown> {
  const out = {} as Record<K, unknown>;
  names.forEach((n, i) => {
    const v = values[i];
    out[n] = v === null || v === undefined ? undefined : JSON.parse(v);
  });
  return out;
}

/** A list response body from pre-rendered JSON texts, without parsing them. */
export function jsonArray(items: string[]): string {
  return `[${items.join(',')}]`;
}
