// Build dist/esm (ES modules), dist/cjs (CommonJS) and dist/types (declarations) from
// src with TypeScript alone; the package has no runtime dependency.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
const run = (...args) => execFileSync(process.execPath, [tsc, ...args], { cwd: root, stdio: 'inherit' });
run('-p', 'tsconfig.json', '--declaration', '--declarationDir', 'dist/types');
run('-p', 'tsconfig.json', '--module', 'CommonJS', '--moduleResolution', 'Node10',
  '--outDir', 'dist/cjs');
// The package is "type": "module": the CommonJS build says what it is.
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{"type": "commonjs"}\n');
