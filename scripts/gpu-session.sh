#!/usr/bin/env bash
# One GPU-machine session as ONE prepared script (the lent machine has nvcc, cmake and PyTorch but no
# Node, and every call starts bare, so everything that belongs together runs here in one go).
# Usage on the GPU machine, from the repository root:  bash scripts/gpu-session.sh STEP…
#
# ==== Prepared plan for the next GPU session (15 min of device time in all, start-up included) ====
# Prepare on the CPU machine (no GPU needed):
#   npm run build:cuda && bash scripts/device-pack.sh
#   (.device: Node, node_modules, the addon, the TinyStories slices and the four check programs
#   prebuilt for sm_90, all xz; carry .device and build/wasm, ~40 MB)
# call 1 [timeout_s 570; ~8 min + ~1.5 min start-up], carry [".device", "build/wasm"]:
#   bash scripts/gpu-session.sh node bench gemm-time peer legs kernels check compare
#     quiet GPU (~5 min): bench        ours, standard config, 3 ways: base / bf16 copies / + decode graphs (~1.2 min)
#                         gemm-time    gemm_check timings, fp32 and bf16-copy pipelines (~0.5 min)
#                         peer         PyTorch: loop-fp32, loop-bf16, grouped-bf16, compile-bf16; best (≤ 2.8 min)
#     then                legs         TinyStories, standard config, 2 legs of 2m30s training (the 2nd a
#                                      `train --resume`), in the BACKGROUND (~6.2 min; outlives the call)
#     beside the legs     kernels      the check programs' correctness parts (prebuilt; ~1 min)
#     (correctness only)  check        scripts/gpu-check.ts, every op against the reference (~1 min)
#                         compare      scripts/gpu-step-compare.ts, one step CPU vs GPU (~1 min)
# call 2 [timeout_s 330; ~4.5 min], AT ONCE after call 1 (the machine goes back 30 s after a call,
#   and the legs die with it; node_modules and the data stay unpacked on the machine):
#   bash scripts/gpu-session.sh node wait stories summary
#     wait (until the legs end, ~3.5 min), stories (3 samples + loss/expert-load SVGs, ~0.6 min),
#     summary (the issue's "done when" figures from $OUT, one table)
# Device minutes: ~1.5 start + ~8 call 1 + ~4.5 call 2 ≈ 14. If only one call is possible:
#   LEG_TIME=2m bash scripts/gpu-session.sh node bench peer legs kernels check compare wait stories summary
#   (timeout_s 600; ~9.5 min: no gemm timings, shorter legs).
# Everything lands in $OUT (logs, JSON lines, SVGs, stories).
#
# Steps:
#   node      unpack the carried Node, node_modules, addon, data and check programs from .device
#   bench     node: bench moe --device cuda --models moe, once per BENCH_WAYS entry (default
#             "base bf16 bf16+graphs": HANDGRAD_CUDA_BF16_WEIGHTS=1, then also HANDGRAD_CUDA_GRAPHS=1);
#             $OUT/bench-moe-<way>.log, last line JSON. The legs then use the fastest way that ran.
#   gemm-time gemm_check --time-only (fp32 variants and bf16 pipelines at the training shapes)
#   peer      PyTorch peer, all variants in one process (bench/peers/torch_moe_train.py); $OUT/torch-peer.jsonl
#   profile   node: bench moe with HANDGRAD_CUDA_PROFILE=1 and the bf16 copies (per-op times, each op synchronised)
#   legs      node: the long run in the BACKGROUND (setsid): LEGS legs (default 2) of LEG_TIME training
#             each (default 2m30s), every leg after the first a `train --resume`; returns at once
#   kernels   the standalone CUDA checks (native/tests/*_check.cu; prebuilt in .device when packed,
#             else built here), correctness only (gemm_check --quick --variant 2: the default fp32
#             variant and every bf16 pipeline; the emulation checks all variants in the test suite)
#   check     node: every CUDA op against the reference backend (scripts/gpu-check.ts)
#   compare   node: one training step on CPU and GPU from the same weights (scripts/gpu-step-compare.ts)
#   wait      wait until the background run ends or WAIT_S seconds pass (default 300), then show it
#   stories   node: three sampled stories (decode graphs on, without them if that fails), the SVGs
#   summary   the done-when figures from $OUT
# Without a GPU (nvidia-smi absent) the CUDA-only steps say so and are skipped, and bench/peer/legs
# take a CPU stand-in, so the whole flow can be rehearsed with a tiny model, e.g.
#   OUT=/tmp/rehearsal PATH=$PWD/node_modules/.bin:$PATH HANDGRAD_DATA=../shared/data LEG_TIME=15s \
#   BENCH_CONFIG=tiny PEER_CONFIG=tiny LEG_TRAIN_ARGS="moe --data tinystories-tiny --vocab-size 300 --context 32 --seq 32 \
#   --d-model 32 --layers 1 --heads 2 --experts 4 --expert-hidden 32 --batch 4 --steps 100000 --val-every 50" \
#   bash scripts/gpu-session.sh node bench peer legs kernels check compare wait stories summary
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DATA=${HANDGRAD_DATA:-/tmp/handgrad-data}   # where `node` unpacks .device/data.tar.xz
PIDFILE=/tmp/handgrad-legs.pid
CHECKS=/tmp/handgrad-checks                  # the check programs (unpacked or built)
RUN=${LEG_OUT:-runs/gpu-long}
status=0
step() { echo; echo "==== $* ($(date +%T))"; }
if nvidia-smi -L > /dev/null 2>&1; then GPU=1; DEVICE=cuda; else GPU=0; DEVICE=${CPU_DEVICE:-wasm}; fi
skip_no_gpu() { echo "skipped: no GPU here ($1)"; }
# The bench configs: the GPU's standard one, or BENCH_CONFIG (tiny for a rehearsal).
BENCH_CONFIG=${BENCH_CONFIG:-$([ $GPU = 1 ] && echo standard || echo tiny)}
ways_env() {  # a bench way → its environment
  case "$1" in
    base) echo "" ;;
    bf16) echo "HANDGRAD_CUDA_BF16_WEIGHTS=1" ;;
    bf16+graphs) echo "HANDGRAD_CUDA_BF16_WEIGHTS=1 HANDGRAD_CUDA_GRAPHS=1" ;;
    graphs) echo "HANDGRAD_CUDA_GRAPHS=1" ;;
    *) echo "unknown-way" ;;
  esac
}
# The fastest bench way that ran (tokens/s in its JSON line), for the legs; base when none did.
best_way() {
  python3 - "$OUT" <<'PY'
import glob, json, os, sys
best, rate = 'base', -1.0
for f in glob.glob(os.path.join(sys.argv[1], 'bench-moe-*.log')):
    try:
        r = json.loads(open(f).read().strip().splitlines()[-1])
    except Exception:
        continue
    if (r.get('tokensPerSec') or 0) > rate:
        best, rate = os.path.basename(f)[len('bench-moe-'):-len('.log')], r['tokensPerSec']
print(best)
PY
}

for s in "$@"; do
  case "$s" in
    node)
      step "node"
      # .device holds xz archives (scripts/device-pack.sh); each is unpacked once per machine.
      if [ -f .device/node.xz ]; then
        [ -x /tmp/node ] || { xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node; }
        export PATH=/tmp:$PATH
      fi
      if [ ! -d node_modules ] && [ -f .device/node_modules.tar.xz ]; then xz -dc .device/node_modules.tar.xz | tar -xf -; fi
      # The data goes OUTSIDE the tree: a later call that carries .device again replaces that folder
      # (carried paths replace what is there), which would pull the data from under a running leg.
      [ -d "$DATA" ] || { [ -f .device/data.tar.xz ] && mkdir -p "$DATA" && xz -dc .device/data.tar.xz | tar -C "$DATA" --strip-components=1 -xf -; }
      # The addon again whenever the carried one is newer (a warm machine would keep a stale build).
      if [ -f .device/handgrad.node.xz ] && { [ ! -f build/cuda/Release/handgrad.node ] || [ .device/handgrad.node.xz -nt build/cuda/Release/handgrad.node ]; }; then
        mkdir -p build/cuda/Release && xz -dc .device/handgrad.node.xz > build/cuda/Release/handgrad.node
      fi
      if [ -f .device/checks.tar.xz ] && [ ! -d "$CHECKS" ]; then mkdir -p "$CHECKS" && xz -dc .device/checks.tar.xz | tar -C "$CHECKS" -xf -; fi
      node --version; ls -la build/cuda/Release/handgrad.node "$DATA" "$CHECKS" 2>&1 | tail -8
      [ $GPU = 1 ] && nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv,noheader
      ;;
    bench)
      for way in ${BENCH_WAYS:-base bf16 bf16+graphs}; do
        step "bench moe --device $DEVICE --config $BENCH_CONFIG: $way"
        envs=$(ways_env "$way")
        [ "$envs" = unknown-way ] && { echo "unknown bench way $way (base, bf16, bf16+graphs, graphs)"; status=2; continue; }
        # shellcheck disable=SC2086  # envs is a list of VAR=value words
        env $envs timeout "${BENCH_TIMEOUT_S:-150}" node bin/handgrad.mjs bench moe --device "$DEVICE" --config "$BENCH_CONFIG" --models moe \
          --time "${BENCH_TIME:-8s}" --json > "$OUT/bench-moe-$way.log" 2>&1 || { echo "bench ($way) failed"; status=1; }
        tail -1 "$OUT/bench-moe-$way.log" | python3 -c "
import json, sys
try: r = json.loads(sys.stdin.read())
except Exception: print('  (no JSON line)'); sys.exit(0)
m = r.get('moe') or {}
print(f\"  {r.get('tokensPerSec', 0):,.0f} tokens/s, decode {r.get('decodeMsPerToken')} ms/token, peak {r.get('peakBytes', 0)/2**30:.3f} GiB, {m.get('cuda')}\")"
      done
      ;;
    gemm-time)
      step "gemm_check timings"
      if [ $GPU = 0 ]; then skip_no_gpu "timings"; continue; fi
      [ -x "$CHECKS/gemm_check" ] || { echo "no $CHECKS/gemm_check (run kernels, or carry .device/checks.tar.xz)"; status=1; continue; }
      timeout "${GEMM_TIME_TIMEOUT_S:-90}" "$CHECKS/gemm_check" --time-only > "$OUT/gemm-time.log" 2>&1 || status=1
      grep TIME "$OUT/gemm-time.log" | tail -40
      ;;
    peer)
      step "PyTorch peer (all variants, one process)"
      case "${PEER_CONFIG:-$BENCH_CONFIG}" in
        standard) cfg='{"vocab":4096,"context":256,"dModel":512,"heads":8,"layers":8,"experts":8,"topK":2,"expertHidden":1024,"batch":32' ;;
        *) cfg='{"vocab":64,"context":16,"dModel":16,"heads":2,"layers":1,"experts":4,"topK":2,"expertHidden":16,"batch":2' ;;
      esac
      pdev=$([ $GPU = 1 ] && echo cuda || echo cpu)
      cfg="$cfg,\"steps\":${PEER_STEPS:-12},\"warmup\":${PEER_WARMUP:-3},\"device\":\"$pdev\""
      [ $GPU = 0 ] && cfg="$cfg,\"emulateGroupedMm\":true"
      timeout "${PEER_TIMEOUT_S:-170}" python3 bench/peers/torch_moe_train.py "$cfg}" 2> "$OUT/torch-peer.err" | tee "$OUT/torch-peer.jsonl" \
        | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get('summary'): print(f\"  best: {r['best']} {r['bestTokensPerSec'] or 0:,.0f} tokens/s (torch {r['torch']})\")
    else: print('  ' + r['variant'] + ': ' + (f\"{r['tokensPerSec']:,.0f} tokens/s, loss0 {r['loss0']:.5f}, peak {(r['peakBytes'] or 0)/2**30:.2f} GiB\" + (f\", compile {r['compileS']:.0f} s\" if 'compileS' in r else '') if 'tokensPerSec' in r else r.get('skipped') or r.get('error')))
" || { echo "peer failed (exit ${PIPESTATUS[0]}); stderr:"; tail -5 "$OUT/torch-peer.err"; }
      ;;
    profile)
      step "profile (every op synchronised, bf16 copies on)"
      HANDGRAD_CUDA_BF16_WEIGHTS=1 HANDGRAD_CUDA_PROFILE=1 timeout 200 node bin/handgrad.mjs bench moe --device "$DEVICE" \
        --config "$BENCH_CONFIG" --models moe --steps 3 --decode-tokens 16 --json > "$OUT/profile.log" 2>&1 || status=1
      grep -v '^{' "$OUT/profile.log" | tail -60
      ;;
    legs)
      way=${LEG_WAY:-$(best_way)}
      legenv=$(ways_env "$way"); [ "$legenv" = unknown-way ] && legenv=""
      step "long run in the background: ${LEGS:-2} legs of ${LEG_TIME:-2m30s} ($way: ${legenv:-no options})"
      mkdir -p runs
      # The runner is a file of its own so that setsid can start it as a new session: a call's
      # processes are killed when the call returns, except those that left its session.
      cat > /tmp/handgrad-legs.sh <<'RUNNER'
#!/usr/bin/env bash
# Runs legs 1..LEGS of the long run; leg i stops when the run's total training time reaches i·LEG_TIME.
# LEG_TRAIN_ARGS replaces the first leg's model and data arguments (a rehearsal uses a tiny model);
# LEG_OUT the run folder.
cd "$1"; export PATH=/tmp:$PATH
out=${LEG_OUT:-runs/gpu-long}
# LEG_TIME as 2m30s, 3m, 150s or 150 → seconds
secs() { local t=$1 r; case $t in *m*s) r=${t#*m}; echo $(( ${t%%m*} * 60 + ${r%s} ));; *m) echo $(( ${t%m} * 60 ));; *s) echo "${t%s}";; *) echo "$t";; esac; }
per=$(secs "${LEG_TIME:-2m30s}")
for i in $(seq 1 "${LEGS:-2}"); do
  total="$(( i * per ))s"
  echo "== leg $i/${LEGS:-2} to ${total} of training ($(date +%T))"
  if [ -f "$out/state.json" ]; then
    echo "== resuming $out from its checkpoint (train --resume)"
    node bin/handgrad.mjs train --resume "$out" --time "$total" || { echo "leg $i failed"; break; }
  else
    # shellcheck disable=SC2086  # LEG_TRAIN_ARGS is a list of arguments
    node bin/handgrad.mjs train ${LEG_TRAIN_ARGS:-moe --device cuda --data tinystories --vocab-size 4096 --context 256 --seq 256 \
      --d-model 512 --layers 8 --heads 8 --experts 8 --top-k 2 --expert-hidden 1024 --batch 32 --steps ${LEG_STEPS:-48000} \
      --val-every ${LEG_VAL_EVERY:-250} --checkpoint-every 1m --seed 1} --time "$total" --out "$out" || { echo "leg $i failed"; break; }
  fi
done
echo "== legs done ($(date +%T))"
RUNNER
      chmod +x /tmp/handgrad-legs.sh
      if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "a background run is already going (pid $(cat "$PIDFILE")): not starting a second on the same folder"; status=1
      else
        # shellcheck disable=SC2086  # legenv is a list of VAR=value words
        env $legenv HANDGRAD_DATA="$DATA" LEG_TIME="${LEG_TIME:-2m30s}" LEGS="${LEGS:-2}" LEG_OUT="$RUN" \
          setsid nohup /tmp/handgrad-legs.sh "$PWD" > /tmp/handgrad-legs.log 2>&1 < /dev/null &
        echo $! > "$PIDFILE"
        sleep 5; tail -3 /tmp/handgrad-legs.log
      fi
      ;;
    kernels)
      step "standalone kernel checks (correctness)"
      if [ $GPU = 0 ]; then skip_no_gpu "they run on the CPU as native/tests/host-emu/run.sh, in the test suite"; continue; fi
      mkdir -p "$CHECKS"
      for t in native/tests/*_check.cu; do
        name=$(basename "$t" .cu); base=${name%_check}; src=native/$base.cu
        [ -x "$CHECKS/$name" ] && continue
        [ -f "$src" ] || { echo "skip $name: no $src"; continue; }
        # The target's kernel files: native/<base>.cu and its parts native/<base>_*.cu (attention:
        # _simt, _tc); the elementwise check covers every fp32 family file and graph.cu.
        srcs=("$src"); for p in native/"$base"_*.cu; do [ -f "$p" ] && srcs+=("$p"); done
        [ "$base" = elementwise ] && srcs+=(native/rows.cu native/layernorm.cu native/embedding.cu native/optim.cu native/graph.cu)
        ( nvcc -O3 -std=c++17 -arch=sm_90 -Inative "$t" "${srcs[@]}" -o "$CHECKS/$name" > "$OUT/$name.build.log" 2>&1 \
          || { echo "BUILD FAILED: $name"; tail -20 "$OUT/$name.build.log"; exit 1; } ) &
      done
      wait
      for name in elementwise_check attention_check moe_check gemm_check; do
        [ -x "$CHECKS/$name" ] || continue
        echo "-- $name"
        args=""; [ $name = gemm_check ] && args="--quick --variant 2"  # the default fp32 variant and every bf16 pipeline
        # shellcheck disable=SC2086
        timeout "${CHECK_TIMEOUT:-240}" "$CHECKS/$name" $args > "$OUT/$name.log" 2>&1; rc=$?
        grep -E "FAIL|passed|worst|bit-identical|skipped" "$OUT/$name.log" | grep -v "^PASS" | tail -12
        [ $rc = 0 ] || { echo "$name exit $rc"; status=1; }
      done
      ;;
    check)
      step "gpu-check"
      if [ $GPU = 0 ]; then skip_no_gpu "tests/backends/cuda-emulated.test.ts runs the same cases on the emulated addon"; continue; fi
      timeout "${CHECK_TIMEOUT_S:-200}" node --import tsx scripts/gpu-check.ts ${CHECK_ARGS:-} > "$OUT/gpu-check.log" 2>&1 || status=1
      grep -E "FAIL|passed|failed" "$OUT/gpu-check.log" | tail -20
      ;;
    compare)
      step "one training step, CPU vs GPU"
      if [ $GPU = 0 ]; then skip_no_gpu "it compares against the GPU"; continue; fi
      OUT=$OUT timeout 300 node --import tsx scripts/gpu-step-compare.ts ${COMPARE_ARGS:-} > "$OUT/step-compare.log" 2>&1 || status=1
      tail -25 "$OUT/step-compare.log"
      ;;
    wait)
      step "waiting for the background run (at most ${WAIT_S:-300} s)"
      end=$(( $(date +%s) + ${WAIT_S:-300} ))
      # Until the runner exits (or was never started on this machine: no pid file), not only until
      # its last line: a dead run must not hold the machine for WAIT_S seconds of device time.
      if [ ! -f "$PIDFILE" ]; then echo "no background run on this machine (no $PIDFILE)"; status=1; fi
      while [ "$(date +%s)" -lt "$end" ] && [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; do sleep 3; done
      grep -E "^== |resum|step .*loss|val|failed|Error" /tmp/handgrad-legs.log | grep -v "validation loss" | tail -25
      cp /tmp/handgrad-legs.log "$OUT/long-run.log" 2>/dev/null; cp "$RUN/metrics.jsonl" "$OUT/" 2>/dev/null
      ;;
    stories)
      step "sample stories from the long run"
      for seed in 1 2 3; do
        HANDGRAD_CUDA_GRAPHS=1 timeout 60 node bin/handgrad.mjs sample "$RUN" --device "$DEVICE" --temperature 0.8 --top-k 40 --length 300 \
          --seed $seed > /tmp/story.txt 2>&1 \
          || { echo "(sampling with decode graphs failed; without them)"; timeout 60 node bin/handgrad.mjs sample "$RUN" --device "$DEVICE" \
            --temperature 0.8 --top-k 40 --length 300 --seed $seed > /tmp/story.txt 2>&1 || status=1; }
        tee -a "$OUT/stories.txt" < /tmp/story.txt; echo "-----" | tee -a "$OUT/stories.txt"
      done
      timeout 60 node bin/handgrad.mjs plot "$RUN" 2>&1 | tail -3; cp "$RUN"/loss.svg "$RUN"/expert-load.svg "$OUT/" 2>/dev/null; ls "$OUT"
      ;;
    summary)
      step "summary (the issue's done-when figures)"
      python3 - "$OUT" <<'PY'
import glob, json, os, re, sys
out = sys.argv[1]
def last_json(path):
    try:
        for line in reversed(open(path).read().strip().splitlines()):
            if line.startswith('{'):
                return json.loads(line)
    except Exception:
        pass
    return None
ours = {}
for f in sorted(glob.glob(os.path.join(out, 'bench-moe-*.log'))):
    r = last_json(f)
    if r: ours[os.path.basename(f)[10:-4]] = r
torch = None
if os.path.exists(os.path.join(out, 'torch-peer.jsonl')):
    for line in open(os.path.join(out, 'torch-peer.jsonl')):
        r = json.loads(line)
        if r.get('summary'): torch = r
print('| way | tokens/s | vs PyTorch best | peak GiB | decode ms/token |')
print('|---|---:|---:|---:|---:|')
best_t = torch and torch.get('bestTokensPerSec')
for way, r in ours.items():
    tps = r.get('tokensPerSec') or 0
    ratio = f'{tps / best_t:.2f}×' if best_t else '—'
    print(f"| {way} | {tps:,.0f} | {ratio} | {(r.get('peakBytes') or 0) / 2**30:.3f} | {r.get('decodeMsPerToken') or float('nan'):.3f} |")
if torch:
    print(f"PyTorch best: {torch['best']} at {best_t or 0:,.0f} tokens/s (torch {torch['torch']}, {torch['device']})")
    for v in torch['variants']:
        print(f"  {v['variant']}: " + (f"{v['tokensPerSec']:,.0f} tokens/s, loss0 {v['loss0']:.5f}" if 'tokensPerSec' in v else str(v.get('skipped') or v.get('error'))))
print('goals: ≥ 400k tokens/s and ≥ 1.5× PyTorch best; peak ≤ 3.5 GiB; decode ≤ 0.5 ms/token')
log = os.path.join(out, 'long-run.log')
if os.path.exists(log):
    text = open(log).read()
    legs = re.findall(r'^== leg (\d+)', text, re.M)
    done = re.findall(r'^done: (\d+) steps in ([^,\s]+)', text, re.M)
    finished = ', '.join(f'{a} steps at {b}' for a, b in done)
    failed = 'yes' if re.search(r'leg \d+ failed', text) else 'no'
    resumed = 'yes' if '== resuming' in text else 'no'
    print(f"long run: {len(legs)} leg(s) started, {len(done)} finished ({finished}), resumed: {resumed}, failed: {failed}")
sc = os.path.join(out, 'gpu-step-compare.json')
if os.path.exists(sc):
    print('step compare: ' + open(sc).read()[:400])
PY
      ;;
    *) echo "unknown step $s"; status=2 ;;
  esac
done
exit $status
