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
# Logs and JSON go to $OUT (when set) so they come back with the call.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
status=0
step() { echo; echo "==== $* ($(date +%T))"; }
for s in "$@"; do
  case "$s" in
    kernels)
      step "standalone kernel checks"
      nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv,noheader || true
      for t in native/tests/*_check.cu; do
        name=$(basename "$t" .cu); src=native/${name%_check}.cu
        [ -f "$src" ] || { echo "skip $name: no $src"; continue; }
        ( nvcc -O3 -std=c++17 -arch=sm_90 -Inative "$t" "$src" -o "/tmp/$name" > "$OUT/$name.build.log" 2>&1 \
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
      xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
      [ -d node_modules ] || cp -r .device/node_modules ./node_modules
      node --version
      ;;
    check)
      step "gpu-check"
      timeout 300 node --import tsx scripts/gpu-check.ts ${CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu-check.log" | tail -80 || status=1
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
      timeout 300 node bin/handgrad.mjs bench moe --device cuda --config standard ${BENCH_ARGS:-} --json 2>&1 | tee "$OUT/bench-moe-cuda.log" | tail -30 || status=1
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
      # run's total time reaches LEG_TOTAL (e.g. 4m, 8m, …). The data travels in .device/data.
      step "long run: leg to ${LEG_TOTAL:-4m} in total"
      export HANDGRAD_DATA=$PWD/.device/data
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
