#!/usr/bin/env bash
# Host prep, step 1: preflight. Read-only: checks that this host can become a GPU minikube host and
# reports every blocker at once (one line each: what, what was found, the fix), then exits 1.
#
# Inputs (environment):
#   GM_MINIKUBE_GPUS     all | nvidia | nvidia.com   the value passed to `minikube start --gpus`
#   GM_INSTALL_TOOLKIT   true | false                whether the toolkit step may install the toolkit
#   GM_CONFIGURE_DOCKER  true | false                whether the runtime step may edit daemon.json
#   GM_PREFLIGHT_CALL_SECONDS  optional, default 8   deadline of each external call (nvidia-smi, docker, minikube)
# Host paths overridable for tests only: GM_PROC_DIR, GM_RUN_DIR, GM_STATE_DIR, GM_DOCKER_DAEMON_JSON,
# GM_DOCKER_LOG_FILE (see lib/docker.sh) and GM_WSL_LIB_DIR (default /usr/lib/wsl/lib, where WSL2
# puts the Windows driver's nvidia-smi).
#
# Checks: NVIDIA driver (nvidia-smi: driver, CUDA, GPUs), Docker CLI and daemon, minikube version for
# the --gpus value (all/nvidia ≥ 1.32, nvidia.com ≥ 1.37), non-interactive sudo where root will be
# needed, kubectl, WSL2, Docker Desktop (whose runtime is set in its UI), net.core.bpf_jit_harden.
# Summary (last stdout line): {"stage":"preflight","driverVersion":…,"cudaVersion":…,"gpus":[{"index",
# "name","uuid"}],"dockerVersion":…,"dockerDesktop":…,"wsl2":…,"minikubeVersion":…,"toolkitInstalled":…,
# "nvidiaRuntime":…,"bpfJitHarden":N|null,"warnings":[…]}; on failure it also has "blockers":[…].
set -euo pipefail
GM_STAGE=preflight
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"

require_enum GM_MINIKUBE_GPUS all nvidia nvidia.com
require_bool GM_INSTALL_TOOLKIT
require_bool GM_CONFIGURE_DOCKER
GM_PREFLIGHT_CALL_SECONDS="${GM_PREFLIGHT_CALL_SECONDS:-8}"
require_uint GM_PREFLIGHT_CALL_SECONDS 1 120
GM_WSL_LIB_DIR="${GM_WSL_LIB_DIR:-/usr/lib/wsl/lib}"
validate_host_paths
require_path GM_WSL_LIB_DIR
GM_DOCKER_CALL_SECONDS="$GM_PREFLIGHT_CALL_SECONDS"
CALL="$GM_PREFLIGHT_CALL_SECONDS"

TOOLKIT_GUIDE="https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
blockers=()
warnings=()

# blocker WHAT FOUND FIX — records one blocker line in fail()'s format.
blocker() {
    blockers+=("$(printf '[%s] ERROR: %s (found: %s). Fix: %s' "$GM_STAGE" "$1" "$2" "$3")")
}
warn() {
    warnings+=("$1")
    log "warning: $1"
}

# --- WSL2 ---
wsl2=false
osrelease=$(cat "${GM_PROC_DIR}/sys/kernel/osrelease" 2>/dev/null) || osrelease=""
shopt -s nocasematch
if [[ "$osrelease" == *microsoft-standard* || "$osrelease" == *wsl2* ]]; then
    wsl2=true
    log "WSL2 detected (kernel ${osrelease})"
elif [[ "$osrelease" == *microsoft* ]]; then
    blocker "WSL1 has no GPU support" "kernel ${osrelease}" \
        "convert this distro to WSL2 from Windows: 'wsl --set-version <distro> 2'"
fi
shopt -u nocasematch

# --- NVIDIA driver ---
driver_version=""
cuda_version=""
gpus_json="[]"
smi=""
if command -v nvidia-smi >/dev/null 2>&1; then
    smi=nvidia-smi
elif [ "$wsl2" = true ] && [ -x "${GM_WSL_LIB_DIR}/nvidia-smi" ]; then
    smi="${GM_WSL_LIB_DIR}/nvidia-smi"
fi
if [ -z "$smi" ]; then
    if [ "$wsl2" = true ]; then
        blocker "NVIDIA driver not visible in WSL2" "no nvidia-smi on PATH or in ${GM_WSL_LIB_DIR}" \
            "install the NVIDIA driver on Windows (not inside WSL), then 'wsl --shutdown' and reopen the distro"
    else
        blocker "NVIDIA driver not found" "no nvidia-smi on PATH" \
            "install the NVIDIA driver (Ubuntu: 'sudo ubuntu-drivers install', then reboot) and check 'nvidia-smi'"
    fi
else
    rc=0
    smi_out=$(with_deadline "$CALL" "$smi" --query-gpu=index,name,uuid,driver_version --format=csv,noheader 2>&1) || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        blocker "nvidia-smi did not answer" "no reply within ${CALL}s" \
            "check the driver ('sudo dmesg | grep -i nvrm'); a hung GPU usually needs a reboot"
    elif [ "$rc" -ne 0 ]; then
        blocker "nvidia-smi cannot talk to the NVIDIA driver" "$(first_line "$smi_out") (exit ${rc})" \
            "install or repair the NVIDIA driver (Ubuntu: 'sudo ubuntu-drivers install'), reboot, and check 'nvidia-smi'"
    else
        entries=()
        while IFS= read -r line; do
            [ -n "${line//[[:space:]]/}" ] || continue
            IFS=',' read -r idx name uuid drv _ <<<"$line"
            idx="${idx//[[:space:]]/}"
            name="$(sed 's/^[[:space:]]*//;s/[[:space:]]*$//' <<<"$name")"
            uuid="${uuid//[[:space:]]/}"
            drv="${drv//[[:space:]]/}"
            [[ "$idx" =~ ^[0-9]+$ ]] || continue
            entries+=("$(printf '{"index":%d,"name":%s,"uuid":%s}' "$((10#$idx))" "$(json_str "$name")" "$(json_str "$uuid")")")
            [ -n "$driver_version" ] || driver_version="$drv"
        done <<<"$smi_out"
        if [ "${#entries[@]}" -eq 0 ]; then
            blocker "no NVIDIA GPU visible" "nvidia-smi listed no GPUs: $(first_line "$smi_out")" \
                "check that the GPU is attached and the driver loaded ('nvidia-smi -L'; in a VM, GPU passthrough)"
        else
            gpus_json="[$(IFS=,; printf '%s' "${entries[*]}")]"
            table=$(with_deadline "$CALL" "$smi" 2>/dev/null) || table=""
            cuda_version=$(sed -n 's/.*CUDA Version: *\([0-9][0-9.]*\).*/\1/p' <<<"$table" | head -n 1)
            if [ -z "$cuda_version" ]; then
                cuda_version=$(with_deadline "$CALL" "$smi" --version 2>/dev/null | sed -n 's/^CUDA Version *: *\([0-9][0-9.]*\).*/\1/p' | head -n 1) || cuda_version=""
            fi
            log "NVIDIA driver ${driver_version}, CUDA ${cuda_version:-unknown}, ${#entries[@]} GPU(s)"
        fi
    fi
fi

# --- Docker ---
docker_version=""
docker_desktop=false
nvidia_runtime=false
docker_ok=false
if ! command -v docker >/dev/null 2>&1; then
    blocker "Docker CLI not found" "no docker on PATH" \
        "install Docker Engine (https://docs.docker.com/engine/install/) or, on WSL2, Docker Desktop with WSL integration"
else
    rc=0
    docker_info || rc=$?
    if [ "$rc" -ne 0 ]; then
        blocker "Docker daemon not reachable" "$DOCKER_INFO_ERROR" "$(docker_unreachable_fix)"
    else
        docker_ok=true
        docker_version="$DOCKER_SERVER_VERSION"
        if is_docker_desktop; then docker_desktop=true; fi
        if runtimes_have_nvidia "$DOCKER_RUNTIMES"; then nvidia_runtime=true; fi
        log "Docker ${docker_version} (${DOCKER_OS}); nvidia runtime: ${nvidia_runtime}"
    fi
fi

# What the later steps will have to do (they need root for it).
toolkit_installed=false
if command -v nvidia-ctk >/dev/null 2>&1; then
    toolkit_installed=true
elif command -v dpkg-query >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # ${Status} is dpkg-query's format, not ours
    status=$(with_deadline "$CALL" dpkg-query -W -f='${Status}' nvidia-container-toolkit 2>/dev/null) || status=""
    [ "$status" != "install ok installed" ] || toolkit_installed=true
fi
will_install=false
if [ "$toolkit_installed" = false ]; then
    if [ "$GM_INSTALL_TOOLKIT" = true ]; then
        will_install=true
        if ! command -v apt-get >/dev/null 2>&1; then
            blocker "cannot install the NVIDIA Container Toolkit automatically" "no apt-get (not a Debian/Ubuntu host)" \
                "install it with your package manager as in ${TOOLKIT_GUIDE}, then re-run"
        fi
        for tool in curl gpg; do
            if ! command -v "$tool" >/dev/null 2>&1; then
                blocker "the toolkit install needs ${tool}" "no ${tool} on PATH" "sudo apt-get install -y curl gnupg"
            fi
        done
    else
        blocker "NVIDIA Container Toolkit not installed and installToolkit is false" "no nvidia-ctk, no nvidia-container-toolkit package" \
            "install it (${TOOLKIT_GUIDE}) or set installToolkit: true"
    fi
fi
will_configure=false
if [ "$docker_ok" = true ] && [ "$nvidia_runtime" = false ]; then
    if [ "$docker_desktop" = true ]; then
        if [ "$GM_CONFIGURE_DOCKER" = true ]; then
            blocker "Docker Desktop has no nvidia runtime" "docker info: OperatingSystem=${DOCKER_OS}, runtimes ${DOCKER_RUNTIMES}" "$GM_DESKTOP_FIX"
        else
            warn "Docker Desktop lists no nvidia runtime and configureDocker is false: ${GM_DESKTOP_FIX}"
        fi
    elif [ "$GM_CONFIGURE_DOCKER" = true ]; then
        will_configure=true
        if [[ "$DOCKER_SECURITY_OPTIONS" == *rootless* ]]; then
            blocker "rootless Docker cannot be configured automatically" "docker info: security options ${DOCKER_SECURITY_OPTIONS}" \
                "run 'nvidia-ctk runtime configure --runtime=docker --config=\$HOME/.config/docker/daemon.json' and 'systemctl --user restart docker', or set configureDocker: false"
        elif [[ "$DOCKER_ROOT_DIR" == /var/snap/* ]]; then
            blocker "snap Docker keeps its config elsewhere" "docker info: root dir ${DOCKER_ROOT_DIR}" \
                "use Docker from docs.docker.com/engine/install instead of the snap, or configure /var/snap/docker/current/config/daemon.json yourself and set configureDocker: false"
        fi
    else
        warn "Docker lists no nvidia runtime and configureDocker is false: the GPU check will fail until you run 'sudo nvidia-ctk runtime configure --runtime=docker' and '$(docker_restart_command)'"
    fi
fi

# --- sudo, only where root will be needed ---
if [ "$will_install" = true ] || [ "$will_configure" = true ]; then
    need=""
    if [ "$will_install" = true ]; then need="installing the NVIDIA Container Toolkit"; fi
    if [ "$will_configure" = true ]; then need="${need:+${need} and }configuring Docker's nvidia runtime"; fi
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            blocker "root is needed for ${need}" "not root and no sudo" "run 'pulumi up' as root or install sudo"
        else
            rc=0
            sudo_out=$(with_deadline 3 sudo -n true 2>&1) || rc=$?
            if [ "$rc" -ne 0 ]; then
                blocker "root is needed for ${need}, but sudo asks for a password" "$(first_line "${sudo_out:-sudo -n true exited ${rc}}")" \
                    "Pulumi gives commands no terminal: run 'sudo -v' right before 'pulumi up', or allow passwordless sudo for this user"
            fi
        fi
    fi
fi

# --- minikube ---
minikube_version=""
need_minikube="1.32"
[ "$GM_MINIKUBE_GPUS" != "nvidia.com" ] || need_minikube="1.37"
if ! command -v minikube >/dev/null 2>&1; then
    blocker "minikube not found" "no minikube on PATH" \
        "install minikube ≥ v${need_minikube}: https://minikube.sigs.k8s.io/docs/start/"
else
    rc=0
    mk_out=$(with_deadline "$CALL" minikube version --short 2>&1) || rc=$?
    minikube_version=$(grep -oE 'v[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$mk_out" | head -n 1) || minikube_version=""
    if [ -z "$minikube_version" ]; then
        blocker "cannot read the minikube version" "'minikube version --short' said: $(first_line "${mk_out:-nothing} (exit ${rc})")" \
            "reinstall minikube ≥ v${need_minikube}: https://minikube.sigs.k8s.io/docs/start/"
    else
        if ! version_ge "$minikube_version" "v${need_minikube}.0"; then
            blocker "minikube ${minikube_version} is too old for --gpus=${GM_MINIKUBE_GPUS}" "${minikube_version} (needs ≥ v${need_minikube})" \
                "upgrade minikube: https://minikube.sigs.k8s.io/docs/start/"
        else
            log "minikube ${minikube_version}"
        fi
    fi
fi

# --- kubectl ---
# The device-plugin and verification steps talk to the cluster with kubectl and the profile's own
# kubeconfig; `minikube kubectl` would download one on first use, so ask for a real one up front.
if ! command -v kubectl >/dev/null 2>&1; then
    blocker "kubectl not found" "no kubectl on PATH" \
        "install kubectl: https://kubernetes.io/docs/tasks/tools/#kubectl (or: sudo snap install kubectl --classic)"
fi

# --- net.core.bpf_jit_harden ---
bpf_raw=$(cat "${GM_PROC_DIR}/sys/net/core/bpf_jit_harden" 2>/dev/null) || bpf_raw=""
bpf_raw="${bpf_raw//[[:space:]]/}"
bpf_json=$(json_num_or_null "$bpf_raw")
if [ "$bpf_json" != "null" ] && [ "$bpf_json" != "0" ]; then
    warn "net.core.bpf_jit_harden is ${bpf_json}; minikube's GPU docs want 0 (else 'nvidia-container-cli: mount error: ... last insn is not an exit or jmp'): sudo sysctl -w net.core.bpf_jit_harden=0"
fi

summary=$(printf '{"stage":"preflight","driverVersion":%s,"cudaVersion":%s,"gpus":%s,"dockerVersion":%s,"dockerDesktop":%s,"wsl2":%s,"minikubeVersion":%s,"toolkitInstalled":%s,"nvidiaRuntime":%s,"bpfJitHarden":%s,"warnings":%s' \
    "$(json_str "$driver_version")" "$(json_str_or_null "$cuda_version")" "$gpus_json" "$(json_str "$docker_version")" \
    "$docker_desktop" "$wsl2" "$(json_str "$minikube_version")" "$toolkit_installed" "$nvidia_runtime" "$bpf_json" \
    "$(json_str_array ${warnings[@]+"${warnings[@]}"})")

if [ "${#blockers[@]}" -gt 0 ]; then
    log "${#blockers[@]} blocker(s) found; nothing was changed on this host:"
    printf '%s\n' "${blockers[@]}" >&2
    printf '%s,"blockers":%s}\n' "$summary" "$(json_str_array "${blockers[@]}")"
    exit 1
fi
log "host is ready for host prep"
printf '%s}\n' "$summary"
