#!/usr/bin/env bash
# Host prep, step 4: proves Docker itself can run a GPU container exactly the way minikube's docker
# driver will start its node, before any cluster exists. minikube v1.38.1 adds, in
# pkg/drivers/kic/oci/oci.go CreateContainerNode:
#   --gpus all|nvidia  →  --gpus all --env NVIDIA_DRIVER_CAPABILITIES=all
#   --gpus nvidia.com  →  --device nvidia.com/gpu=all   (CDI)
# so this check runs
#   docker run --rm --name gpu-minikube-gpu-check-<pid> <those flags> --network=none <image> sh -c 'nvidia-smi && <the Job's query, driver_version else kmd_version>'
# The capabilities matter: "all" includes "display", which needs /dev/nvidia-modeset and fails on
# compute-only drivers (kubernetes/minikube#20934) where Docker's default capabilities pass.
# No `--runtime=nvidia`: with `--gpus all` Docker's own GPU driver adds the toolkit's prestart hook to
# the default runtime, which is exactly what minikube relies on; the nvidia runtime entry in
# daemon.json is checked by the previous step. `--network=none`: the check needs no network.
# Read-only for the host (the container is removed); bounded by GM_TIMEOUT_SECONDS (pull included).
#
# Inputs (environment):
#   GM_IMAGE            image with nvidia-smi reachable through the toolkit (e.g. nvidia/cuda:12.5.0-base-ubuntu22.04)
#   GM_TIMEOUT_SECONDS  1..3600, deadline of the whole `docker run`
#   GM_MINIKUBE_GPUS    all | nvidia | nvidia.com, the `minikube.gpus` value (default all)
#   GM_IMAGE_ID         optional, ignored (passed so that a new digest behind the same tag re-runs this step)
# Summary (last stdout line): {"stage":"docker-gpu-check","exitCode":0,"image":"…","log":"<the container's whole stdout>"}
set -euo pipefail
GM_STAGE=docker-gpu-check
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

require_env GM_IMAGE
IMAGE="${GM_IMAGE:-}"
if ! [[ "$IMAGE" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$ ]]; then
    fail "input GM_IMAGE is not an image reference" "GM_IMAGE=$(printf '%q' "$IMAGE")" \
        "use a reference like nvidia/cuda:12.5.0-base-ubuntu22.04 (letters, digits, . _ / : @ -)"
fi
require_uint GM_TIMEOUT_SECONDS 1 3600
GM_MINIKUBE_GPUS="${GM_MINIKUBE_GPUS:-all}"
require_enum GM_MINIKUBE_GPUS all nvidia nvidia.com
command -v docker >/dev/null 2>&1 || fail "Docker CLI not found" "no docker on PATH" "install Docker, then re-run"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The verification Job's command (components/verificationJob.ts VERIFICATION_COMMAND, held equal by
# test/verificationCommand.test.ts): driver_version first, R610's kmd_version when the driver rejects it.
QUERY=$(cat <<'QUERY_EOF'
nvidia-smi && { q=$(nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,pci.bus_id --format=csv); rc=$?; if [ "$rc" -eq 2 ]; then nvidia-smi --query-gpu=index,name,uuid,kmd_version,memory.total,pci.bus_id --format=csv; else printf '%s\n' "$q"; (exit "$rc"); fi; }
QUERY_EOF
)
case "$GM_MINIKUBE_GPUS" in
    nvidia.com) gpu_args=(--device nvidia.com/gpu=all) ;;
    *) gpu_args=(--gpus all --env NVIDIA_DRIVER_CAPABILITIES=all) ;;
esac
log "docker run --rm ${gpu_args[*]} --network=none ${IMAGE} (as minikube starts its node for --gpus ${GM_MINIKUBE_GPUS}; deadline ${GM_TIMEOUT_SECONDS}s)"
# A fixed name, so a container left behind by a timed-out run is found and removed.
name="gpu-minikube-gpu-check-$$"
rc=0
with_deadline "$GM_TIMEOUT_SECONDS" docker run --rm --name "$name" "${gpu_args[@]}" --network=none "$IMAGE" sh -c "$QUERY" \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    with_deadline 20 docker rm -f "$name" >/dev/null 2>&1 || true
fi
out=$(cat "$tmp/out")
err=$(cat "$tmp/err")

# docker_error_line — Docker's own error line from the run's stderr: the "docker: …" line (the CLI
# appends "Run 'docker run --help' for more information", which says nothing), else the last
# non-empty line that is not that hint.
docker_error_line() {
    local lines
    lines=$(sed -e '/^[[:space:]]*$/d' -e "/^Run 'docker [a-z ]*--help' for more information/d" -e "/^See 'docker [a-z ]*--help'\.\$/d" <<<"${err:-$out}")
    grep -m 1 -E '^docker: ' <<<"$lines" || tail -n 1 <<<"$lines"
}

if [ "$rc" -ne 0 ]; then
    # Docker 25–28.1 with CDI off (28.2 turned it on by default), or a daemon too old for CDI names
    # (the CLI then takes nvidia.com/gpu=all for a device path).
    if [[ "$err" == *'could not select device driver "cdi"'* || "$err" == *'nvidia.com/gpu=all is not an absolute path'* ]]; then
        fail "Docker does not resolve CDI devices, which minikube.gpus nvidia.com needs" "$(docker_error_line)" \
            "this Docker does not resolve CDI devices (it needs Docker Engine 25 or newer with \"features\": {\"cdi\": true} in daemon.json): keep hostPrep.configureDocker true, or run 'sudo nvidia-ctk runtime configure --runtime=docker --cdi.enabled' and restart Docker; or use minikube.gpus all"
    fi
    if [[ "$err" == *'could not select device driver'* ]]; then
        fail "Docker cannot give containers a GPU: the NVIDIA Container Toolkit is missing or Docker was not restarted after it was installed" \
            "$(docker_error_line)" \
            "set installToolkit and configureDocker to true, or run 'sudo nvidia-ctk runtime configure --runtime=docker' and restart Docker ('sudo systemctl restart docker'); note a minikube cluster created before must be recreated"
    fi
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "the GPU check container did not finish" "no result after ${GM_TIMEOUT_SECONDS}s (image pull included)" \
            "pull the image first ('docker pull ${IMAGE}') or raise the timeout; check 'docker ps' for a stuck container"
    fi
    log "the GPU check container failed (exit ${rc}); its last lines:"
    tail_lines 10 "${out}"$'\n'"${err}" >&2
    case "$err$out" in
        *"/dev/nvidia-modeset"*)
            fix="the driver is a compute-only (headless) install without /dev/nvidia-modeset, and minikube starts its node with NVIDIA_DRIVER_CAPABILITIES=all, which needs it (https://github.com/kubernetes/minikube/issues/20934): run 'sudo nvidia-modprobe -m' (or 'sudo modprobe nvidia-modeset'), check 'ls -l /dev/nvidia-modeset', then re-run 'pulumi up'" ;;
        *"unsatisfied condition: cuda>="*)
            need=$(grep -oE 'cuda>=[0-9]+(\.[0-9]+)?' <<<"$err$out" | sed -n 1p)
            fix="the NVIDIA driver is too old for the CUDA version ${IMAGE} requires (${need}): upgrade the driver (Ubuntu: 'sudo ubuntu-drivers install', then reboot), or choose an image for the CUDA version 'nvidia-smi' shows: pulumi config set --path verification.image nvidia/cuda:<version>-base-ubuntu22.04" ;;
        *"unresolvable CDI devices"*)
            fix="Docker has CDI on but no spec defines nvidia.com/gpu=all: keep hostPrep.configureDocker true (it writes the spec), or run 'sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml' and check 'nvidia-ctk cdi list'" ;;
        *"No such image"* | *"pull access denied"* | *"manifest unknown"* | *"not found: manifest"*)
            fix="check the image name ${IMAGE} and this host's access to its registry" ;;
        *"mount error"*"last insn is not an exit or jmp"*)
            fix="set net.core.bpf_jit_harden=0 ('sudo sysctl -w net.core.bpf_jit_harden=0') and re-run" ;;
        *"nvidia-container-cli"*)
            fix="the toolkit could not set up the GPU: check 'nvidia-smi' on the host and 'sudo nvidia-ctk --debug ...'; see the lines above" ;;
        *)
            fix="see the lines above; 'docker run --rm ${gpu_args[*]} ${IMAGE} nvidia-smi' reproduces it" ;;
    esac
    fail "the GPU check container failed" "exit ${rc}: $(docker_error_line)" "$fix"
fi
# R610 drivers renamed the table's "Driver Version" to "KMD Version" (NVIDIA: "deprecated Driver Version and
# CUDA Version in favor of KMD Version and CUDA UMD Version"; test/fixtures/nvidia-smi/h200-610-table.txt).
if ! grep -qE '(Driver|KMD) Version' <<<"$out"; then
    log "the GPU check container's output:"
    tail_lines 10 "$out" >&2
    fail "the GPU check container ran but nvidia-smi showed no driver" "no 'Driver Version' or 'KMD Version' line in its output" \
        "check that ${IMAGE} is a CUDA image and that the toolkit injects the driver (nvidia-ctk, /etc/nvidia-container-runtime/config.toml)"
fi
gpus=$(grep -c 'GPU-[0-9a-f]' <<<"$out" || true)
log "the GPU check container saw ${gpus} GPU(s)"
printf '{"stage":"docker-gpu-check","exitCode":0,"image":%s,"log":%s}\n' "$(json_str "$IMAGE")" "$(json_str "$out")"
