/** Redis stream ids `<ms>-<seq>` (the wire `id` of every event, contract 00 "Events"). */

/** True for a well-formed stream id. */
export function isStreamId(id: string): boolean {
  return /^\d{1,15}-\d{1,19}$/.test(id);
}

/** Compares two stream ids numerically: negative, 0 or positive. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as ?? '0') - BigInt(bs ?? '0');
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
