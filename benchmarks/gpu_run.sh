#!/usr/bin/env bash
# One prepared GPU session (device time is short): large-width `verify all`, Jacobian spectra,
# the large dying-ReLU study and the simulation benchmark, run side by side on one GPU.
#
#   OUT=/path/to/out bash benchmarks/gpu_run.sh            # on the GPU machine, repo root
#   OUT=/tmp/smoke SCALE=smoke bash benchmarks/gpu_run.sh  # same script at toy sizes (CPU check)
#
# Why side by side: at these sizes the run is dominated by XLA compilation (CPU, one thread per
# program) and random-number generation (GPU); separate processes compile in parallel on the
# host's cores while the GPU interleaves their kernels. Each process gets a fixed slice of GPU
# memory (XLA_PYTHON_CLIENT_MEM_FRACTION) and the memory plans read that slice (bytes_limit).
# PRNG: `rbg` (XLA's RngBitGenerator) instead of Threefry: untied runs regenerate every weight
# matrix at every step, and Threefry makes that the bottleneck; the impl is recorded in each
# report.json (environment.jax_config.jax_default_prng_impl). Everything lands in $OUT/gpu.tgz.
set -u
: "${OUT:?set OUT}"
SCALE=${SCALE:-gpu}
PY=${PY:-python3}
R=$(mktemp -d)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 SIGNALPROP_JAX_CACHE=off JAX_DEFAULT_PRNG_IMPL=rbg
if [ "$SCALE" = gpu ]; then
  W=8192; WG=4096; E=16; WS=1024; ES=8; PT=380; BT=50
  DR="ensemble=1000000 domain_ensemble=200000 rnn_ensemble=1024 chunk=131072"
else
  W=32; WG=16; E=4; WS=32; ES=4; PT=900; BT=120
  DR="ensemble=2000 domain_ensemble=500 rnn_ensemble=16 chunk=1024"
fi
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$R/timeline.txt"; }
# At most 8 files of 16 MiB come back: one archive per part, one for the rest.
PARTS="all-vanilla all-relu-linear all-ff all-minimalrnn all-gated spectra dying-relu"
finish() {
  stamp "packing"
  for p in $PARTS; do
    (cd "$R" && ls -d "$p"* >/dev/null 2>&1 && tar czf "$OUT/$p.tgz" "$p"* ) ;
  done
  (cd "$R" && tar czf "$OUT/misc.tgz" --exclude="*.png" $(ls | grep -v -E "^($(echo $PARTS | tr ' ' '|'))") )
  cp "$R/timeline.txt" "$OUT/" 2>/dev/null
}
trap finish EXIT

stamp "start SCALE=$SCALE"
(nvidia-smi || true) > "$R/nvidia-smi.txt" 2>&1
$PY -c "import jax, jaxlib, numpy, scipy, sympy, numba, matplotlib; print(jax.devices()); \
print({m.__name__: m.__version__ for m in (jax, jaxlib, numpy, scipy, sympy, numba, matplotlib)})" \
  > "$R/env.txt" 2>&1
cat "$R/env.txt"

# 1. benchmark alone on the device (timings are only meaningful without the other jobs)
for impl in threefry2x32 rbg; do
  stamp "bench $impl"
  JAX_DEFAULT_PRNG_IMPL=$impl timeout $BT $PY benchmarks/bench_simulation.py --width $W --ensemble 8 \
    --steps 20 --reps 2 --json "$R/bench_$impl.json" > "$R/bench_$impl.log" 2>&1
  stamp "bench $impl rc=$?"
done

# 2. the parts, side by side
part() {  # name mem_fraction command...
  local name=$1 frac=$2; shift 2
  ( XLA_PYTHON_CLIENT_MEM_FRACTION=$frac timeout $PT "$@" > "$R/$name.log" 2>&1; \
    stamp "$name rc=$?" ) &
}
stamp "parts (timeout ${PT}s each)"
part all-vanilla .13 $PY -m verify all width=$W ensemble=$E cells=vanilla-tanh,vanilla-erf,vanilla-hard-tanh \
  out="$R/all-vanilla"
part all-relu-linear .12 $PY -m verify all width=$W ensemble=$E cells=vanilla-relu,vanilla-linear \
  out="$R/all-relu-linear"
part all-ff .08 $PY -m verify all width=$W ensemble=$E \
  cells=feedforward-tanh,feedforward-erf,feedforward-hard-tanh,feedforward-linear,feedforward-relu out="$R/all-ff"
part all-minimalrnn .22 $PY -m verify all width=$W ensemble=$E cells=minimalrnn out="$R/all-minimalrnn"
part all-gated .2 $PY -m verify all width=$WG ensemble=$E cells=gru,lstm out="$R/all-gated"
part spectra .06 bash -c "for c in vanilla-tanh minimalrnn vanilla-relu vanilla-hard-tanh vanilla-erf; do \
  $PY -m verify spectra cells=\$c width=$WS ensemble=$ES steps=1,2,4,8,16 ks_steps=4,8 out=$R/spectra-\$c; done"
part dying-relu .1 $PY -m verify study=dying-relu width=2,4,8,16 depth=1:200 $DR \
  init=he,orthogonal,rademacher,rai d=2 grid=9 rnn_width=64,256 rnn_steps=1000 death_width=2,3,4 \
  dtype=float32 seed=0 out="$R/dying-relu"
wait
stamp "parts done"
(nvidia-smi || true) >> "$R/nvidia-smi.txt" 2>&1
