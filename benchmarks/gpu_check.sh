#!/usr/bin/env bash
# The accelerator check: benchmarks/gpu_check.py under JAX, then under
# TensorFlow, one process each (see that file for what is measured).
#
#   bash benchmarks/gpu_check.sh [OUTPUT_DIR] [gpu_check.py arguments]
#
# OUTPUT_DIR (default: $OUT, else the current directory) receives
# gpu_check_jax.json and gpu_check_tensorflow.json; TensorFlow's FLOPs per
# step are read from the JAX file. Each backend gets GPU_CHECK_SECONDS
# (default 230) of wall time, imports and compiles included, so both fit
# in about 8 minutes: the script's own budget is 30 s shorter (its imports
# come first), it skips a task that would overrun that, and the JSON it
# writes after each task stays if it is killed. PYTHON (default: python)
# runs the script.
#
#   bash benchmarks/gpu_check.sh "$OUT"                 # on a GPU
#   bash benchmarks/gpu_check.sh /tmp/gpu_check --smoke # on a CPU
set -u
out=${OUT:-.}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  out=$1
  shift
fi
mkdir -p "$out" || exit 1
rm -f "$out"/gpu_check_jax.json "$out"/gpu_check_tensorflow.json
root=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
python=${PYTHON:-python}
seconds=${GPU_CHECK_SECONDS:-230}
status=0
for backend in jax tensorflow; do
  flops=()
  if [ "$backend" = tensorflow ] && [ -f "$out/gpu_check_jax.json" ]; then
    flops=(--flops-from "$out/gpu_check_jax.json")
  fi
  echo "== $backend"
  KERAS_BACKEND=$backend timeout --kill-after=10 "$seconds" \
    "$python" -m benchmarks.gpu_check \
    --time-budget $((seconds - 30)) \
    --output "$out/gpu_check_$backend.json" "${flops[@]}" "$@" ||
    { echo "== $backend failed (exit $?)"; status=1; }
done
exit $status
