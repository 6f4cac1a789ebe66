#!/usr/bin/env bash
# One prepared GPU call for issue 5 (device time is short): real-network Jacobian spectra at large
# width (eigenvalues kept, to be judged against any predicted law later, `verify spectra samples=`),
# the 1000 x 1000 phase-diagram benchmark on the jax backend, and `verify all` at its default size.
#
#   OUT=/path/to/out bash benchmarks/gpu_run_spectra_phase.sh            # GPU machine, repo root
#   OUT=/tmp/smoke SCALE=smoke bash benchmarks/gpu_run_spectra_phase.sh  # toy sizes (CPU check)
#   ONLY="phase spectra-large-orthogonal" NL=1024 OUT=... bash benchmarks/gpu_run_spectra_phase.sh
#
# Parts run side by side (XLA compilation is host-bound, one thread per program; the GPU interleaves
# the kernels), each with a fixed slice of GPU memory and its own time limit, so a slow part cannot
# take the others' results with it.  Spectra runs save their eigenvalues as each (weights, regime)
# finishes, so a part cut by its limit still returns what it finished.  Results: $OUT/*.tgz.
set -u
: "${OUT:?set OUT}"
SCALE=${SCALE:-gpu}
PY=${PY:-python3}
R=$(mktemp -d)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 SIGNALPROP_JAX_CACHE=off
if [ "$SCALE" = gpu ]; then
  # CH: the vectorised 2-D quadrature of tanh's xi holds ~25 600 float64 per point and intermediate
  # (first call: 262144 points asked XLA for 54 GB and ran out of memory); 16384 points = 3.4 GB
  PT=${PT:-440}; NM=${NM:-1024}; NL=${NL:-2048}; E=8; PD=1000; CH=${CH:-16384}; VA=""
else
  PT=${PT:-900}; NM=32; NL=48; E=4; PD=12; CH=64; VA="width=16 ensemble=4 cells=vanilla-tanh,minimalrnn"
fi
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$R/timeline.txt"; }
PARTS="phase spectra-minimalrnn spectra-large-orthogonal spectra-large-gaussian spectra-vanilla all"
ONLY=${ONLY:-$PARTS}
finish() {
  stamp "packing"
  for p in $PARTS; do
    (cd "$R" && ls -d "$p"* >/dev/null 2>&1 && tar czf "$OUT/$p.tgz" "$p"*)
  done
  (nvidia-smi || true) >> "$R/nvidia-smi.txt" 2>&1
  cp "$R/timeline.txt" "$R/env.txt" "$R/nvidia-smi.txt" "$OUT/" 2>/dev/null
}
trap finish EXIT

stamp "start SCALE=$SCALE"
(nvidia-smi || true) > "$R/nvidia-smi.txt" 2>&1
$PY -c "import jax, jaxlib, numpy, scipy, sympy, numba, matplotlib, os; print(jax.devices(), os.cpu_count()); \
print({m.__name__: m.__version__ for m in (jax, jaxlib, numpy, scipy, sympy, numba, matplotlib)})" \
  > "$R/env.txt" 2>&1
cat "$R/env.txt"

part() {  # name mem_fraction command...
  local name=$1 frac=$2; shift 2
  case " $ONLY " in *" $name "*) ;; *) return ;; esac
  mkdir -p "$R/$name"
  ( XLA_PYTHON_CLIENT_MEM_FRACTION=$frac timeout $PT "$@" > "$R/$name/log.txt" 2>&1; \
    stamp "$name rc=$?" ) &
}
stamp "parts (limit ${PT}s each)"
# 1. phase diagram: tanh (xi needs the 2-D quadrature inside the C* solve) then erf (closed forms)
part phase .2 bash -c "$PY benchmarks/bench_phase_diagram.py --cell vanilla-tanh --n $PD --backend jax \
  --chunk $CH --repeat 2 --png $R/phase/tanh_jax_$PD.png; \
  $PY benchmarks/bench_phase_diagram.py --cell vanilla-erf --n $PD --backend jax --chunk $CH --repeat 2"
# 2. minimalRNN spectra, both regimes (tied is closure-limited; kept for the record) at N = NM
part spectra-minimalrnn .2 $PY -m verify spectra cells=minimalrnn width=$NM ensemble=$E steps=1,2,4,8,16 \
  ks_steps=2,4,8,16 samples="$R/spectra-minimalrnn/samples" out="$R/spectra-minimalrnn/free-steps"
# 3. untied minimalRNN at the larger width N = NL (the operator-valued law's test), orthogonal first
for w in orthogonal gaussian; do
  part spectra-large-$w .2 $PY -m verify spectra cells=minimalrnn width=$NL ensemble=$E steps=1,2,4,8,16 \
    ks_steps=2,4,8,16 tied=false weights=$w plots=false samples="$R/spectra-large-$w/samples" \
    out="$R/spectra-large-$w/free-steps"
done
# 4. vanilla tanh and ReLU, untied, at N = NL (exact free-probability law)
part spectra-vanilla .15 $PY -m verify spectra cells=vanilla-tanh,vanilla-relu width=$NL ensemble=$E \
  steps=1,2,4,8,16 ks_steps=4,8,16 tied=false samples="$R/spectra-vanilla/samples" out="$R/spectra-vanilla/report"
# 5. verify all at its default size, timed (shared compiled programs; not measured on a GPU before)
part all .15 bash -c "/usr/bin/time -v $PY -m verify all $VA out=$R/all/report quiet=true"
wait
stamp "parts done"
