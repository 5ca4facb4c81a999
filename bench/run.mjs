// `npm run bench -- <name…>`: runs the named benchmarks (default: all), writing bench/RESULTS.md.
import { runSpawnBench } from './spawn-bench.mjs';
import { runWsBench } from './ws-bench.mjs';

const benches = { ws: runWsBench, spawn: runSpawnBench };
const names = process.argv.slice(2).filter((a) => a in benches);
for (const name of names.length ? names : Object.keys(benches)) {
  console.log(`== bench ${name}`);
  await benches[name]();
}
process.exit(0);
