#!/usr/bin/env bash
# The paper comparison (notebook 04's tuned comparison under the `paper` profile) on one GPU, one
# lease at a time. Each call trains what fits in the lease, exports everything stored so far to the
# text artefact results/paper/ (commit it) and rewrites the README's answer block from it; the next
# lease, on a fresh machine, starts from that artefact and trains only what is missing.
#
#   bash examples/paper_on_gpu.sh STORE [SETTING ...]
#
#   bash examples/paper_on_gpu.sh /tmp/paper.sqlite 'mnist · 1k'                    # the first setting
#   bash examples/paper_on_gpu.sh /tmp/paper.sqlite 'cifar10 · 5k · spiking_mlp'     # a later lease
#
# STORE: the results database of this machine (not runs/results.sqlite: keep the paper's trials
#   apart from the notebooks'). When it does not exist yet, the shipped artefact is imported into it
#   first, so no trial is trained twice across leases.
# SETTING: train only the settings whose label (dataset · training size · network, e.g. 'mnist · full ·
#   delayed_snn') contains this text (`snnlab trials --help`); default 'mnist · 1k'. The whole profile
#   is hours of H200 time; one MNIST 1k setting of the spiking MLP takes about 6 minutes with 8 workers.
# Environment: TIME_LIMIT (seconds the training may take, default 540: a 15-minute lease minus start-up,
#   export and copying back), START_LIMIT (no population starts after it, default 3/4 of TIME_LIMIT: a
#   population stopped by the time limit keeps only its per-epoch checkpoint in <store>.checkpoints/,
#   on this machine, and a rerun here goes on from it), WORKERS
#   (processes sharing the GPU, default 8), SNNLAB_DATA (the data root holding MNIST/ and
#   CIFAR-10-images/ or cifar-10-batches-py/; default data/), ARTEFACT (default results/paper),
#   SNNLAB (the command, default snnlab).
#
# Exit status: 0 when every trial of the settings is stored, 3 when the time limit left some for the
# next lease (the export and answer still ran), 1 or 2 when a step failed (its message says which; a
# failed training exports nothing).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

SNNLAB=${SNNLAB:-snnlab}
STORE=${1:?usage: bash examples/paper_on_gpu.sh STORE [SETTING ...]}
shift
SETTINGS=("$@")
[ ${#SETTINGS[@]} -eq 0 ] && SETTINGS=("mnist · 1k")
TIME_LIMIT=${TIME_LIMIT:-540}
START_LIMIT=${START_LIMIT:-$(( TIME_LIMIT * 3 / 4 ))}
WORKERS=${WORKERS:-8}
ARTEFACT=${ARTEFACT:-results/paper}

# 1. A fresh machine: continue from the shipped artefact (its trials count as done).
if [ ! -f "$STORE" ] && [ -f "$ARTEFACT/manifest.json" ]; then
  "$SNNLAB" results import "$ARTEFACT" --store "$STORE" || exit
fi

# 2. Train: 8 processes share the settings' trials through the store (each trial is claimed before it
#    trains; populations of one condition's seeds and drop rates train as one batched model).
#    Stopped by --time-limit, it exits with status 3 and a rerun goes on.
trials=(trials --profile paper --device cuda --workers "$WORKERS" --time-limit "$TIME_LIMIT"
        --start-limit "$START_LIMIT")
for s in "${SETTINGS[@]}"; do trials+=(--setting "$s"); done
start=$SECONDS
"$SNNLAB" "${trials[@]}" --store "$STORE"
rc=$?
wall=$(( SECONDS - start ))
case $rc in
  0) echo "every trial of ${SETTINGS[*]} is in $STORE" ;;
  3) echo "the time limit left trials for the next lease: run this script again (with the artefact committed)" ;;
  *) echo "snnlab trials failed (exit $rc); nothing exported" >&2; exit "$rc" ;;
esac

# 3. Export every finished trial of the store (the imported ones too) as the reviewable text artefact,
#    recording the command (without this machine's store path) and how long it ran.
settings_text=$(printf " --setting '%s'" "${SETTINGS[@]}")
"$SNNLAB" results export "$ARTEFACT" --store "$STORE" --profile paper --wall-seconds "$wall" \
  --command "snnlab trials --profile paper --device cuda --workers $WORKERS --time-limit $TIME_LIMIT --start-limit $START_LIMIT$settings_text (examples/paper_on_gpu.sh, one GPU lease)" \
  || exit

# 4. The study's answer from the artefact (per finished setting: each method's tuned paired difference,
#    its confidence interval and verdict), also written into README.md between its answer markers.
"$SNNLAB" results answer "$ARTEFACT" --readme README.md || exit
exit "$rc"
