// `npm run bench -- <name…> [--url <base>]`: runs the named benchmarks (default: all), writing
// bench/RESULTS.md. `--url` points the http bench at a running server instead of starting one.
import { runBackupBench } from './backup-bench.mjs';
import { runCeilingBench } from './ceiling-bench.mjs';
import { runHttpBench } from './http-bench.mjs';
import { runMemoryBench } from './memory-bench.mjs';
import { runClaimsBench, runRedisBench } from './redis-bench.mjs';
import { runSpawnBench } from './spawn-bench.mjs';
import { runWsBench } from './ws-bench.mjs';

const args = process.argv.slice(2);
const urlAt = args.indexOf('--url');
const url = urlAt >= 0 ? args[urlAt + 1] : undefined;
if (urlAt >= 0 && !/^https?:\/\//.test(url ?? '')) {
  console.error('--url needs a base URL, e.g. --url http://127.0.0.1:3000');
  process.exit(2);
}
const benches = { ws: runWsBench, spawn: runSpawnBench, http: () => runHttpBench({ url }), ceiling: runCeilingBench, memory: runMemoryBench, backup: runBackupBench, redis: runRedisBench, claims: runClaimsBench };
const unknown = args.filter((a, i) => !(a in benches) && a !== '--url' && i !== urlAt + 1);
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}; one of: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
const names = args.filter((a) => a in benches);
const selected = names.length ? names : url ? ['http'] : Object.keys(benches);
for (const name of selected) {
  console.log(`== bench ${name}`);
  const t0 = performance.now();
  await benches[name]();
  console.log(`== bench ${name} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.exit(0);
