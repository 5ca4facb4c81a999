// Copies non-TypeScript runtime assets (Lua scripts) from src/ to dist/ after `tsc`.
import { chmodSync, cpSync, existsSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? walk(path) : [path];
});
for (const file of walk(join(root, 'src')).filter((f) => f.endsWith('.lua'))) {
  const target = join(root, 'dist', relative(join(root, 'src'), file));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(file, target);
}

// The CLI is a `bin`: make it executable.
const cli = join(root, 'dist', 'cli', 'index.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
