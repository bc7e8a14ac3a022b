import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The installed package's root (holds migrations/ and policies/), from src/ or dist/src/ alike. */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, 'migrations'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('activity-vault package root not found');
    dir = parent;
  }
  root = dir;
  return dir;
}

/** Policy sources, and the folder beside them that holds the pinned capabilities and the built bundle. */
export function policyPaths(root = packageRoot()): { sources: string; capabilities: string; defaultBundle: string } {
  const dir = path.join(root, 'policies');
  return {
    sources: dir,
    capabilities: path.join(dir, 'build', 'capabilities.json'),
    defaultBundle: path.join(dir, 'build', 'bundle.tar.gz'),
  };
}

/** The console's built browser assets (`npm run build:console`): index.html, app.css and the modules. */
export function consoleAssetsDir(root = packageRoot()): string {
  return path.join(root, 'dist', 'console');
}
