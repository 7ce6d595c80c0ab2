// Where handgrad's own files are (build/wasm, data/, package.json): the folder of its package.json.
// That is the repository root in a checkout (this file is src/util/ there) and the installed
// package's folder when it came from npm (where this file is dist/src/util/): walking up to the
// first package.json finds it in both, so no file needs to know how deep it sits.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

export function packageRoot(): string {
  if (root !== null) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`handgrad: no package.json above ${dirname(fileURLToPath(import.meta.url))}`);
    dir = up;
  }
  root = dir;
  return root;
}
