#!/usr/bin/env bash
# One GPU-machine session in one call (the lent machine has nvcc, cmake and PyTorch but no Node, and
# every call starts bare, so everything that belongs together runs here in one go).
# Usage on the GPU machine, from the repository root:  bash scripts/gpu-session.sh STEP…
# Steps:
#   kernels   build and run the standalone CUDA checks in native/tests (no Node needed)
#   node      unpack the carried Node and node_modules from .device (see scripts/device-pack.sh)
#   check     node: every CUDA op against the reference backend (scripts/gpu-check.ts)
#   peer      PyTorch peer of the standard MoE config (fp32 and bf16 autocast)
#   bench     node: npx handgrad bench moe --device cuda --json (standard config)
#   compare   node: one training step on CPU and GPU from the same weights (scripts/gpu-step-compare.ts)
#   profile   node: bench moe with HANDGRAD_CUDA_PROFILE=1 (per-op times, each op synchronised)
#   leg       node: one leg of the long run, in this call (LEG_TOTAL: the run's total time at its end)
#   legs      node: the whole long run in the BACKGROUND (setsid): LEGS legs (default 3) of LEG_TIME
#             each (default 6m50s), every leg a new `train --resume` process, so the run outlives the
#             call; returns at once. Later calls keep the machine (it goes back 30 s after a call ends,
#             and the run dies with it) and watch with `wait`.
#   wait      wait until the background run ends or WAIT_S seconds pass (default 540), then show it
#   stories   node: three sampled stories, the loss and expert-load SVGs of the long run
# Logs and JSON go to $OUT (when set) so they come back with the call.
#
# The rest of issue #8 in one lease (30 min of device time in all, counted from the machine's start,
# ~1.5 min, to its return; each call ≤ 10 min; the machine goes back 30 s after a call ends and the
# background run dies with it, and the checkpoints, ~1.3 GB, cannot come back: so the calls follow
# each other at once). Estimated device minutes in brackets:
#   call 1 [~5]: CHECK_TIMEOUT_S=180 BENCH_TIMEOUT_S=150 BENCH_ARGS="--models moe" \
#                bash scripts/gpu-session.sh node check bench legs
#                (conformance incl. the decode-sized grouped GEMM and moeAuxLoss; throughput, peak memory
#                and decode latency; then the long run starts in the background and the call returns)
#   (calls 2–4 need not carry .device again: node_modules, the addon and the data stay unpacked on
#   the machine, and the data lives in /tmp/handgrad-data, outside the tree a carry replaces)
#   call 2 [~9.5]: WAIT_S=560 bash scripts/gpu-session.sh node wait
#   call 3 [~9.5]: WAIT_S=560 bash scripts/gpu-session.sh node wait
#   call 4 [~3]:   bash scripts/gpu-session.sh node wait stories   (the legs end ~22 min after call 1;
#                  samples, loss and expert-load SVGs come back in $OUT)
# The three legs (LEGS=3, LEG_TIME=6m50s: 20.5 min of training) plus their start-ups take ~22 min of
# the ~28 left after the machine's start; `kernels` (the standalone check programs) and `compare`
# belong to another lease.
# carry: .device (Node, node_modules, the addon, data: scripts/device-pack.sh, ~34 MB) and build/wasm.
# The legs/wait flow can be rehearsed on the CPU with a tiny model, e.g.
#   PATH=$PWD/node_modules/.bin:$PATH HANDGRAD_DATA=../shared/data LEGS=3 LEG_TIME=12s LEG_OUT=/tmp/legs \
#   LEG_TRAIN_ARGS="moe --data tinystories-tiny --vocab-size 300 --context 32 --seq 32 --d-model 32 --layers 1 \
#   --heads 2 --experts 4 --expert-hidden 32 --batch 4 --steps 100000 --val-every 50" bash scripts/gpu-session.sh legs wait
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DATA=${HANDGRAD_DATA:-/tmp/handgrad-data}   # where `node` unpacks .device/data.tar.xz
PIDFILE=/tmp/handgrad-legs.pid
status=0
step() { echo; echo "==== $* ($(date +%T))"; }
for s in "$@"; do
  case "$s" in
    kernels)
      step "standalone kernel checks"
      nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv,noheader || true
      for t in native/tests/*_check.cu; do
        name=$(basename "$t" .cu); base=${name%_check}; src=native/$base.cu
        [ -f "$src" ] || { echo "skip $name: no $src"; continue; }
        # The target's kernel files: native/<base>.cu and its parts native/<base>_*.cu (attention:
        # _simt, _tc); the elementwise check covers every fp32 family file.
        srcs=("$src"); for p in native/"$base"_*.cu; do [ -f "$p" ] && srcs+=("$p"); done
        [ "$base" = elementwise ] && srcs+=(native/rows.cu native/layernorm.cu native/embedding.cu native/optim.cu)
        ( nvcc -O3 -std=c++17 -arch=sm_90 -Inative "$t" "${srcs[@]}" -o "/tmp/$name" > "$OUT/$name.build.log" 2>&1 \
          || { echo "BUILD FAILED: $name"; tail -20 "$OUT/$name.build.log"; exit 1; } ) &
      done
      wait
      for t in native/tests/*_check.cu; do
        name=$(basename "$t" .cu)
        [ -x "/tmp/$name" ] || continue
        echo "-- $name"
        args_var="ARGS_${name}"   # e.g. ARGS_gemm_check="--time-only"
        timeout "${CHECK_TIMEOUT:-150}" "/tmp/$name" ${!args_var:-} > "$OUT/$name.log" 2>&1; rc=$?
        grep -E "FAIL|TIME|passed|worst" "$OUT/$name.log" | tail -40
        [ $rc = 0 ] || { echo "$name exit $rc"; status=1; }
      done
      ;;
    node)
      step "node"
      # .device holds xz archives (scripts/device-pack.sh); each is unpacked once per machine.
      [ -x /tmp/node ] || { xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node; }
      export PATH=/tmp:$PATH
      if [ ! -d node_modules ]; then
        if [ -f .device/node_modules.tar.xz ]; then xz -dc .device/node_modules.tar.xz | tar -xf -
        else cp -r .device/node_modules ./node_modules; fi
      fi
      # The data goes OUTSIDE the tree: a later call that carries .device again replaces that folder
      # (carried paths replace what is there), which would pull the data from under a running leg.
      [ -d "$DATA" ] || { [ -f .device/data.tar.xz ] && mkdir -p "$DATA" && xz -dc .device/data.tar.xz | tar -C "$DATA" --strip-components=1 -xf -; }
      # The addon again whenever the carried one is newer (a warm machine would keep a stale build).
      if [ -f .device/handgrad.node.xz ] && { [ ! -f build/cuda/Release/handgrad.node ] || [ .device/handgrad.node.xz -nt build/cuda/Release/handgrad.node ]; }; then
        mkdir -p build/cuda/Release && xz -dc .device/handgrad.node.xz > build/cuda/Release/handgrad.node
      fi
      node --version; ls -la build/cuda/Release/handgrad.node "$DATA" 2>&1 | tail -4
      ;;
    check)
      step "gpu-check"
      timeout "${CHECK_TIMEOUT_S:-300}" node --import tsx scripts/gpu-check.ts ${CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu-check.log" | tail -80 || status=1
      ;;
    peer)
      step "PyTorch peer"
      cfg='{"vocab":4096,"context":256,"dModel":512,"heads":8,"layers":8,"experts":8,"topK":2,"expertHidden":1024,"batch":32,"steps":20'
      for dt in fp32 bf16; do
        timeout 180 python3 bench/peers/torch_moe_train.py "$cfg,\"dtype\":\"$dt\"}" 2>&1 | tee -a "$OUT/torch-peer.jsonl" | tail -3
      done
      ;;
    bench)
      step "bench moe --device cuda"
      timeout "${BENCH_TIMEOUT_S:-300}" node bin/handgrad.mjs bench moe --device cuda --config standard ${BENCH_ARGS:-} --json 2>&1 | tee "$OUT/bench-moe-cuda.log" | tail -30 || status=1
      ;;
    compare)
      step "one training step, CPU vs GPU"
      timeout 300 node --import tsx scripts/gpu-step-compare.ts ${COMPARE_ARGS:-} 2>&1 | tee "$OUT/step-compare.log" | tail -40 || status=1
      ;;
    profile)
      step "profile (every op synchronised)"
      HANDGRAD_CUDA_PROFILE=1 timeout 300 node bin/handgrad.mjs bench moe --device cuda --config standard --models moe \
        --steps 3 --decode-tokens 16 --json 2>&1 | tee "$OUT/profile.log" | tail -100 || status=1
      ;;
    leg)
      # One leg of the long GPU training run (issue #8): starts runs/gpu-long, or resumes it, until the
      # run's total time reaches LEG_TOTAL (e.g. 4m, 8m, …). The data: .device/data.tar.xz, unpacked by `node`.
      step "long run: leg to ${LEG_TOTAL:-4m} in total"
      export HANDGRAD_DATA=$DATA
      if [ -f runs/gpu-long/state.json ]; then
        timeout 590 node bin/handgrad.mjs train --resume runs/gpu-long --time "${LEG_TOTAL:-4m}" 2>&1 | tee -a "$OUT/long-run.log" | grep -v "validation loss" | tail -8 || status=1
      else
        timeout 590 node bin/handgrad.mjs train moe --device cuda --data tinystories --vocab-size 4096 --context 256 --seq 256 \
          --d-model 512 --layers 8 --heads 8 --experts 8 --top-k 2 --expert-hidden 1024 --batch 32 --steps ${LEG_STEPS:-20000} \
          --time "${LEG_TOTAL:-4m}" --val-every ${LEG_VAL_EVERY:-250} --checkpoint-every 2m --seed 1 --out runs/gpu-long \
          2>&1 | tee -a "$OUT/long-run.log" | grep -v "validation loss" | tail -8 || status=1
      fi
      cp runs/gpu-long/metrics.jsonl "$OUT/" 2>/dev/null
      ;;
    legs)
      step "long run in the background: ${LEGS:-3} legs of ${LEG_TIME:-6m50s}"
      mkdir -p runs
      # The runner is a file of its own so that setsid can start it as a new session: a call's
      # processes are killed when the call returns, except those that left its session.
      cat > /tmp/handgrad-legs.sh <<'RUNNER'
#!/usr/bin/env bash
# Runs legs 1..LEGS of the long run; leg i stops when the run's total training time reaches i·LEG_TIME.
# LEG_TRAIN_ARGS replaces the first leg's model and data arguments (a CPU smoke test of this runner
# uses a tiny model); LEG_OUT the run folder.
cd "$1"; export PATH=/tmp:$PATH
out=${LEG_OUT:-runs/gpu-long}
# LEG_TIME as 6m50s, 7m, 410s or 410 → seconds
secs() { local t=$1 r; case $t in *m*s) r=${t#*m}; echo $(( ${t%%m*} * 60 + ${r%s} ));; *m) echo $(( ${t%m} * 60 ));; *s) echo "${t%s}";; *) echo "$t";; esac; }
per=$(secs "${LEG_TIME:-6m50s}")
for i in $(seq 1 "${LEGS:-3}"); do
  total="$(( i * per ))s"
  echo "== leg $i/${LEGS:-3} to ${total} of training ($(date +%T))"
  if [ -f "$out/state.json" ]; then
    node bin/handgrad.mjs train --resume "$out" --time "$total" || { echo "leg $i failed"; break; }
  else
    # shellcheck disable=SC2086  # LEG_TRAIN_ARGS is a list of arguments
    node bin/handgrad.mjs train ${LEG_TRAIN_ARGS:-moe --device cuda --data tinystories --vocab-size 4096 --context 256 --seq 256 \
      --d-model 512 --layers 8 --heads 8 --experts 8 --top-k 2 --expert-hidden 1024 --batch 32 --steps ${LEG_STEPS:-48000} \
      --val-every ${LEG_VAL_EVERY:-500} --checkpoint-every 2m --seed 1} --time "$total" --out "$out" || { echo "leg $i failed"; break; }
  fi
done
echo "== legs done ($(date +%T))"
RUNNER
      chmod +x /tmp/handgrad-legs.sh
      if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        echo "a background run is already going (pid $(cat "$PIDFILE")): not starting a second on the same folder"; status=1
      else
        HANDGRAD_DATA=$DATA LEG_TIME=${LEG_TIME:-6m50s} LEGS=${LEGS:-3} setsid nohup /tmp/handgrad-legs.sh "$PWD" > /tmp/handgrad-legs.log 2>&1 < /dev/null &
        echo $! > "$PIDFILE"
        sleep 20; tail -5 /tmp/handgrad-legs.log
      fi
      ;;
    wait)
      step "waiting for the background run (at most ${WAIT_S:-540} s)"
      end=$(( $(date +%s) + ${WAIT_S:-540} ))
      # Until the runner exits (or was never started on this machine: no pid file), not only until
      # its last line: a dead run must not hold the machine for WAIT_S seconds of device time.
      if [ ! -f "$PIDFILE" ]; then echo "no background run on this machine (no $PIDFILE)"; status=1; fi
      while [ "$(date +%s)" -lt "$end" ] && [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; do sleep 5; done
      grep -E "^== |resum|step .*loss|val|failed|Error" /tmp/handgrad-legs.log | grep -v "validation loss" | tail -25
      cp /tmp/handgrad-legs.log "$OUT/long-run.log" 2>/dev/null; cp "${LEG_OUT:-runs/gpu-long}/metrics.jsonl" "$OUT/" 2>/dev/null
      ;;
    stories)
      step "sample stories from the long run"
      for seed in 1 2 3; do
        timeout 60 node bin/handgrad.mjs sample runs/gpu-long --device cuda --temperature 0.8 --top-k 40 --length 300 --seed $seed 2>&1 | tee -a "$OUT/stories.txt"
        echo "-----" | tee -a "$OUT/stories.txt"
      done
      timeout 60 node bin/handgrad.mjs plot runs/gpu-long 2>&1 | tail -3; cp runs/gpu-long/loss.svg runs/gpu-long/expert-load.svg "$OUT/" 2>/dev/null; ls "$OUT"
      ;;
    *) echo "unknown step $s"; status=2 ;;
  esac
done
exit $status
