#!/usr/bin/env bash
# First contact on a real GPU server, read-only: the installed wheel, a project whose inventory sets
# only gpu_models and mig_layout for @local, and every command a newcomer runs first. nvidia-smi is
# behind bench/h100/nvidia-smi-guard, which passes query forms only (exit 97 for anything else), so
# no MIG mode change, reset or instance can reach the GPU from here.
#     bash bench/h200/first_contact.sh WHEELHOUSE OUT     (from the repository root, on the server)
set -u
WHEELS=$(realpath "${1:?folder of wheels: migfleet and its dependencies}")
OUT=$(realpath "${2:?output folder}")
REPO=$(pwd)
W=/tmp/first-contact
rm -rf "$W"; mkdir -p "$W/guard" "$W/project" "$OUT"
export REAL_NVIDIA_SMI=$(command -v nvidia-smi) GUARD_LOG="$OUT/nvidia_smi_calls.log" PYTHONUNBUFFERED=1
cp bench/h100/nvidia-smi-guard "$W/guard/nvidia-smi"; chmod +x "$W/guard/nvidia-smi"; : > "$GUARD_LOG"
exec > >(tee "$OUT/first_contact.log") 2>&1

mode() { "$REAL_NVIDIA_SMI" --query-gpu=index,name,driver_version,mig.mode.current,mig.mode.pending --format=csv,noheader; }
echo "== the server"; mode; echo "PID 1: $(cat /proc/1/comm)"; echo "docker: $(command -v docker || echo none)"
echo "systemctl: $(command -v systemctl || echo none)"; echo "apt-get: $(command -v apt-get || echo none)"
before=$(mode)

echo "== install the wheel into a fresh virtualenv"
if python3 -m venv "$W/venv" 2>/dev/null; then
  "$W/venv/bin/pip" install -q --no-index --find-links "$WHEELS" migfleet || { echo "install failed"; exit 1; }
else        # a Python without ensurepip: the outer pip installs into the new environment
  rm -rf "$W/venv"; python3 -m venv --without-pip "$W/venv" && python3 -m pip --python "$W/venv/bin/python" install \
    -q --no-index --find-links "$WHEELS" migfleet || { echo "install failed"; exit 1; }
fi
"$W/venv/bin/migfleet" --version

# The user's project: an inventory with @local, its layout, and models/ beside it (the default).
model=$("$REAL_NVIDIA_SMI" --query-gpu=name --format=csv,noheader | head -1)
cat > "$W/project/inventory.py" <<PY
gpu_servers = [("@local", {"gpu_models": ["$model"],
                           "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.18gb", "count": 7}]}]})]
PY
printf 'from migfleet.deploys.all import deploy_all\n\ndeploy_all()\n' > "$W/project/deploy.py"
cp -r "$REPO/files/models" "$W/project/models"

run() {     # a newcomer's command, behind the guard, from the project folder; its exit code said
  echo "== $*"
  (cd "$W/project" && PATH="$W/guard:$W/venv/bin:$PATH" timeout 300 "$@"); echo "-> exit $?"
}
run migfleet validate inventory.py
run migfleet validate --live inventory.py
run migfleet export inventory.py
run migfleet export --format mig-parted inventory.py
run migfleet drift inventory.py
run migfleet targets inventory.py
run migfleet plan inventory.py
run pyinfra --dry inventory.py deploy.py
run pyinfra --dry -v inventory.py deploy.py

echo "== after"
after=$(mode); echo "$after"
[ "$before" = "$after" ] && echo "MIG mode unchanged" || echo "MIG MODE CHANGED: $before -> $after"
echo "nvidia-smi calls: $(wc -l < "$GUARD_LOG"), refused: $(grep -c REFUSED "$GUARD_LOG")"
echo "tracebacks: $(grep -c Traceback "$OUT/first_contact.log")"
