// The console's non-TypeScript files (index.html, app.css) beside the compiled modules in dist/console.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'src', 'console', 'web');
const to = path.join(root, 'dist', 'console');
mkdirSync(to, { recursive: true });
for (const file of ['index.html', 'app.css']) copyFileSync(path.join(from, file), path.join(to, file));
