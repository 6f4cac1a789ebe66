#!/usr/bin/env bash
# Second GPU call (same session, remaining device time): the parts that the first call's 380 s
# per-part limit cut off (benchmarks/gpu_run.sh), split into more processes; gated at N = 2048 and
# spectra at N = 512 so that they finish. Usage as gpu_run.sh: OUT=DIR bash benchmarks/gpu_run_part2.sh
set -u
: "${OUT:?set OUT}"
PY=${PY:-python3}; PT=${PT:-250}
R=$(mktemp -d)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 SIGNALPROP_JAX_CACHE=off
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$R/timeline.txt"; }
PARTS="v-tanh v-erf v-hard-tanh gru lstm spectra"
finish() {
  stamp "packing"
  for p in $PARTS; do (cd "$R" && ls -d "$p"* >/dev/null 2>&1 && tar czf "$OUT/$p.tgz" "$p"*); done
  (cd "$R" && tar czf "$OUT/misc.tgz" timeline.txt)
}
trap finish EXIT
part() { local name=$1 frac=$2; shift 2
  ( XLA_PYTHON_CLIENT_MEM_FRACTION=$frac timeout $PT "$@" > "$R/$name.log" 2>&1; stamp "$name rc=$?" ) & }
stamp "start"
for c in tanh erf hard-tanh; do
  part v-$c .13 $PY -m verify all width=8192 ensemble=16 cells=vanilla-$c out="$R/v-$c"
done
part gru .12 $PY -m verify all width=2048 ensemble=16 cells=gru out="$R/gru"
part lstm .15 $PY -m verify all width=2048 ensemble=16 cells=lstm out="$R/lstm"
part spectra-a .06 bash -c "for c in minimalrnn vanilla-relu; do \
  $PY -m verify spectra cells=\$c width=512 ensemble=8 steps=1,2,4,8,16 ks_steps=4,8 out=$R/spectra-\$c; done"
part spectra-b .06 bash -c "for c in vanilla-hard-tanh vanilla-erf; do \
  $PY -m verify spectra cells=\$c width=512 ensemble=8 steps=1,2,4,8,16 ks_steps=4,8 out=$R/spectra-\$c; done"
wait
stamp "parts done"
