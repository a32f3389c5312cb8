#!/usr/bin/env bash
# The whole H100 benchmark on the GPU machine, from the repository root:
#     bash bench/h100/run_device.sh .h100pack/pack.tar.xz "$OUT"
# 1. machine description; 2. migfleet facts + plan for 7 x 1g.10gb (read-only, nvidia-smi behind
# a guard that refuses any non-query form), pynvml cross-check, `pyinfra ... deploy.py --dry`;
# 3. Triton + Envoy benchmark (serve_bench.py). Writes at most 8 files to OUT.
set -u
PACK_TAR=${1:?pack tarball}
OUT=${2:?output folder}
REPO=$(pwd)
P=/tmp/h100
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$P"
LOGS=/tmp/h100bench-logs; rm -rf "$LOGS"; mkdir -p "$LOGS"
exec > >(tee "$LOGS/run_device.log") 2>&1

[ -x $P/bin/envoy ] || { echo "unpacking $PACK_TAR"; tar -xJf "$PACK_TAR" -C $P || exit 1; }

echo "== machine"
{
  nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,mig.mode.current,mig.mode.pending,pci.bus_id,compute_cap,power.limit,clocks.max.sm --format=csv
  nvidia-smi | sed -n 1,12p
  echo "kernel: $(uname -r)"; echo "glibc: $(ldd --version | head -1)"; echo "cpus: $(nproc)"
  echo "python3: $(command -v python3) $(python3 -V 2>&1)"
  python3 -c "import torch, torchvision, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'torchvision', torchvision.__version__, 'numpy', numpy.__version__, 'device', torch.cuda.get_device_name(0))"
  timeout 120 python3 bench/h100/torch_baseline.py
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# libpython3.12 for the python backend stub
LIBDIR=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
if [ -e "$LIBDIR/libpython3.12.so.1.0" ]; then export LIBPYTHON_DIR=$LIBDIR
elif ! ldconfig -p | grep -q libpython3.12.so.1.0; then
  f=$(find / -xdev -name 'libpython3.12.so.1.0' 2>/dev/null | head -1); [ -n "$f" ] && export LIBPYTHON_DIR=$(dirname "$f")
fi
echo "libpython3.12: ${LIBPYTHON_DIR:-from ldconfig} $(ldconfig -p | grep -c libpython3.12.so.1.0)"
for b in $P/bin/envoy $P/bin/perf_analyzer $P/triton/pytriton/tritonserver/bin/tritonserver \
         $P/triton/pytriton/tritonserver/backends/python/triton_python_backend_stub; do
  LD_LIBRARY_PATH=${LIBPYTHON_DIR:-} ldd "$b" | grep "not found" | sed "s|^|$(basename $b): |"
done
$P/bin/perf_analyzer --version 2>&1 | head -2

echo "== facts and plan (read-only)"
export REAL_NVIDIA_SMI=$(command -v nvidia-smi) GUARD_LOG="$OUT/nvidia_smi_calls.log"
mkdir -p /tmp/h100guard && cp bench/h100/nvidia-smi-guard /tmp/h100guard/nvidia-smi
: > "$GUARD_LOG"
PATH=/tmp/h100guard:$PATH PYTHONPATH=$P/site timeout 120 python3 bench/h100/facts_plan.py "$OUT"
echo "== pyinfra @local deploy.py --dry"
PATH=/tmp/h100guard:$PATH PYTHONPATH=$P/site timeout 180 python3 -c \
  'import sys; sys.argv[0] = "pyinfra"; from pyinfra_cli.main import main; main()' \
  bench/h100/inventory_local.py deploy.py --dry -v > "$OUT/pyinfra_dry.log" 2>&1
echo "pyinfra exit $?"; grep -E "MIG|nvidia-smi|rror" "$OUT/pyinfra_dry.log" | head -20
echo "nvidia-smi calls: $(wc -l < "$GUARD_LOG"), refused: $(grep -c REFUSED "$GUARD_LOG")"
nvidia-smi --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader

echo "== serving benchmark"
timeout 520 python3 bench/h100/serve_bench.py --pack $P --out "$OUT" ${BENCH_ARGS:-}
echo "serve_bench exit $?"
cp -r /tmp/h100bench/logs "$LOGS/bench" 2>/dev/null; cp /tmp/h100bench/*.yaml "$LOGS/" 2>/dev/null
nvidia-smi --query-gpu=mig.mode.current,mig.mode.pending,memory.used --format=csv,noheader
tar -czf "$OUT/logs.tgz" -C "$LOGS" . 2>/dev/null
ls -la "$OUT"
