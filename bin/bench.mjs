#!/usr/bin/env node
// `npm run bench -- <name> [--json] [--quick] [...]`: runs bench/<name>.ts (see bench/README.md).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allocatorEnv } from '../workers/allocator.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(join(root, 'bench', `${name}.ts`))) {
  console.error(
    `usage: npm run bench -- <name> [--json] [--quick]\navailable: ${available.join(', ') || '(none)'}`,
  );
  process.exit(2);
}
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const r = spawnSync(process.execPath, [tsx, join(root, 'bench', `${name}.ts`), ...args], {
  stdio: 'inherit',
  cwd: root,
  // Every bench and its child processes run with the allocator the workers use.
  env: allocatorEnv(),
});
process.exit(r.status ?? 1);
