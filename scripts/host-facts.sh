#!/usr/bin/env bash
# Reads the host's GPU facts that the verification verdict compares against — the NVIDIA driver
# version and the GPU UUIDs — read-only, on every `pulumi preview` and `pulumi up` (like
# minikube-observe.sh), so a driver upgrade or a swapped GPU since the last run is seen now, not
# taken from what preflight recorded once. It never fails: a problem becomes "error".
#
# Inputs (environment): optional GM_WSL_LIB_DIR (default /usr/lib/wsl/lib, where WSL2 puts the
#   Windows driver's nvidia-smi), GM_CALL_SECONDS (default 8: deadline of the nvidia-smi call).
# Output (last stdout line): {"driverVersion":"580.159.04"|null,"gpuUuids":["GPU-…",…],"error":null|"…"}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="host-facts"

GM_WSL_LIB_DIR="${GM_WSL_LIB_DIR:-/usr/lib/wsl/lib}"
require_path GM_WSL_LIB_DIR
GM_CALL_SECONDS="${GM_CALL_SECONDS:-8}"
require_uint GM_CALL_SECONDS 1 120

# emit DRIVER UUIDS_JSON ERROR — prints the summary and exits 0.
emit() {
    printf '{"driverVersion":%s,"gpuUuids":%s,"error":%s}\n' "$(json_str_or_null "$1")" "$2" "$(json_str_or_null "$3")"
    exit 0
}

smi=""
if command -v nvidia-smi >/dev/null 2>&1; then
    smi=nvidia-smi
elif [ -x "${GM_WSL_LIB_DIR}/nvidia-smi" ]; then
    smi="${GM_WSL_LIB_DIR}/nvidia-smi"
else
    emit "" "[]" "no nvidia-smi on PATH or in ${GM_WSL_LIB_DIR}"
fi
rc=0
# The same query as preflight.sh, read the same way (index, name, uuid, driver).
out=$(with_deadline "$GM_CALL_SECONDS" "$smi" --query-gpu=index,name,uuid,driver_version --format=csv,noheader 2>&1) || rc=$?
# As preflight.sh: R610's kmd_version only when the driver rejects driver_version (exit 2).
if [ "$rc" -eq 2 ]; then
    rc=0
    out=$(with_deadline "$GM_CALL_SECONDS" "$smi" --query-gpu=index,name,uuid,kmd_version --format=csv,noheader 2>&1) || rc=$?
fi
if [ "$rc" -ne 0 ]; then
    emit "" "[]" "nvidia-smi exited ${rc}: $(first_line "$out")"
fi
driver=""
uuids=()
while IFS=',' read -r _ _ uuid drv _; do
    uuid="${uuid//[[:space:]]/}"
    drv="${drv//[[:space:]]/}"
    [[ $uuid =~ ^(GPU|MIG)-[A-Za-z0-9-]+$ ]] || continue
    uuids+=("$uuid")
    if [ -z "$driver" ] && [[ $drv =~ ^[0-9][0-9.]*$ ]]; then driver="$drv"; fi
done <<<"$out"
if [ "${#uuids[@]}" -eq 0 ]; then
    emit "$driver" "[]" "nvidia-smi listed no GPUs: $(first_line "$out")"
fi
emit "$driver" "$(json_str_array "${uuids[@]}")" ""
