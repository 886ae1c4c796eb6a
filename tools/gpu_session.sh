#!/usr/bin/env bash
# One GPU lease, one call: the issue-11 checks and benchmarks, then as much of the paper study as the
# time left allows (resumable: the store comes back and a later lease goes on).
#   bash tools/gpu_session.sh OUT_DIR [STUDY_END_SECONDS] [SETTING ...]
# Needs: the repo (package source), .whl (peers' wheels for the LIF benchmark), .gpudata/MNIST/raw.
# Everything but the store goes into OUT_DIR/gpu_session.tar.gz (the device tool returns few files).
set -u
OUT=${1:?OUT_DIR}; END=${2:-500}; shift 2 || true
SETTINGS=("$@"); [ ${#SETTINGS[@]} -eq 0 ] && SETTINGS=("mnist · 1k")
W=/tmp/gpu_session; mkdir -p "$W" "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PWD:/tmp/site
fi
# TINY=1: a dry run on a CPU (tiny checks, the smoke profile)
T=(); DEV=cuda; PROFILE=paper; [ -n "${TINY:-}" ] && { T=(--tiny); DEV=cpu; PROFILE=smoke; SETTINGS=(digits); }
# SKIP="lif check mnist": parts to leave out (a second lease re-measures only what changed)
skip() { case " ${SKIP:-} " in *" $1 "*) return 0;; esac; return 1; }
# a store carried in .gpustore/paper.sqlite (an earlier lease's) is continued; population checkpoints
# (paper.checkpoints beside it, hundreds of MB) stay on this machine: a later call of the same lease goes on
[ -f .gpustore/paper.sqlite ] && cp .gpustore/paper.sqlite "$W/paper.sqlite" && echo "continuing the carried store"
left() { echo $(( END - SECONDS )); }
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
  python3 -c "import torch, triton, numpy, pandas; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__)"
  nproc
} > "$W/env.txt" 2>&1
cat "$W/env.txt"
if ! skip lif; then
echo "== lif check (t=$SECONDS)"
timeout 150 python3 tools/gpu_lif_check.py "$W/lif.json" "${T[@]}" > "$W/lif.log" 2>&1; echo "lif rc=$?"; tail -25 "$W/lif.log"
fi
if ! skip check; then
echo "== step/population/sync check (t=$SECONDS)"
timeout 170 python3 tools/gpu_check.py "$W/check" --budget 130 "${T[@]}" > "$W/check.log" 2>&1; echo "check rc=$?"; sed -n '/==== summary/,$p' "$W/check.log"
fi
if ! skip pop; then
echo "== population correctness (t=$SECONDS)"
timeout 60 python3 tools/gpu_population_check.py "$W/pop.json" --device $DEV > "$W/pop.log" 2>&1; echo "pop rc=$?"; tail -3 "$W/pop.log"
fi
if [ -z "${TINY:-}" ] && ! skip mnist; then
  echo "== full-MNIST epoch: one trial vs a population of 16 (t=$SECONDS)"
  timeout 90 python3 tools/gpu_mnist_population.py .gpudata "$W/mnist_population.json" --epochs 1 --seeds 4 \
    > "$W/mnist_population.log" 2>&1; echo "mnist_population rc=$?"; tail -5 "$W/mnist_population.log"
fi
LIMIT=$(( $(left) - 25 ))
echo "== paper study, ${SETTINGS[*]}, time limit ${LIMIT}s (t=$SECONDS)"
if [ "$LIMIT" -gt 30 ]; then
  args=(); for s in "${SETTINGS[@]}"; do args+=(--setting "$s"); done
  # nothing starts in the last POP_SECONDS (default 200): a population stopped half-way is lost
  START=$(( LIMIT - ${POP_SECONDS:-200} )); [ "$START" -lt 0 ] && START=0
  timeout $(( LIMIT + 15 )) python3 -m snnlab trials --profile $PROFILE --device auto --workers 8 --time-limit "$LIMIT" \
    --start-limit "$START" \
    --data-root .gpudata --store "$W/paper.sqlite" "${args[@]}" > "$W/study.log" 2>&1; echo "study rc=$?"
  tail -30 "$W/study.log"
fi
python3 - "$W/paper.sqlite" "$OUT/paper.sqlite" <<'PY'
import sqlite3, sys, os
if os.path.exists(sys.argv[1]):
    src = sqlite3.connect(sys.argv[1]); dst = sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close()
    print("store:", dst and sys.argv[2], os.path.getsize(sys.argv[2]), "bytes")
PY
tar -czf "$OUT/gpu_session.tar.gz" -C "$W" --exclude paper.sqlite --exclude 'paper.sqlite-*' --exclude paper.checkpoints . ; echo "done t=$SECONDS"
