#!/usr/bin/env bash
# Host prep, step 1: preflight. Read-only: checks that this host can become a GPU minikube host and
# reports every blocker at once (one line each: what, what was found, the fix), then exits 1.
#
# Inputs (environment):
#   GM_MINIKUBE_GPUS     all | nvidia | nvidia.com   the value passed to `minikube start --gpus`
#   GM_INSTALL_TOOLKIT   true | false                whether the toolkit step may install the toolkit
#   GM_CONFIGURE_DOCKER  true | false                whether the runtime step may edit daemon.json
#   GM_PREFLIGHT_CALL_SECONDS  optional, default 8   deadline of each external call (nvidia-smi, docker, minikube)
#   GM_MINIKUBE_FORCE    optional, default false     minikube.force: allow running as root (minikube start --force)
#   GM_IMAGE             optional                    the CUDA image; its CUDA version is compared with the driver's
# Host paths overridable for tests only: GM_PROC_DIR, GM_RUN_DIR, GM_HOST_STATE_DIR, GM_DOCKER_DAEMON_JSON,
# GM_DOCKER_LOG_FILE, GM_CDI_SPEC_DIR (see lib/docker.sh), GM_WSL_LIB_DIR (default /usr/lib/wsl/lib, where
# WSL2 puts the Windows driver's nvidia-smi) and GM_DEV_DIR (default /dev).
#
# Checks: not root (minikube's docker driver refuses root), NVIDIA driver (nvidia-smi: driver, CUDA, GPUs;
# /dev/nvidia-modeset for --gpus all|nvidia), Docker CLI and daemon (and which daemon: DOCKER_HOST or the
# current context), Docker ≥ 25 with CDI for --gpus nvidia.com, minikube version for the --gpus value
# (all/nvidia ≥ 1.32, nvidia.com ≥ 1.37), non-interactive sudo where root will be needed, kubectl, WSL2
# (a warning: not shown to work), Docker Desktop (blocked on Linux: no GPU in its VM), net.core.bpf_jit_harden,
# and the CUDA image against the driver's CUDA version.
# Summary (last stdout line): {"stage":"preflight","driverVersion":…,"cudaVersion":…,"gpus":[{"index",
# "name","uuid"}],"dockerVersion":…,"dockerDesktop":…,"wsl2":…,"minikubeVersion":…,"toolkitInstalled":…,
# "nvidiaRuntime":…,"bpfJitHarden":N|null,"root":bool,"dockerHost":…,"cdiEnabled":bool,
# "nvidiaModeset":bool|null,"warnings":[…]}; on failure it also has "blockers":[…].
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
GM_DEV_DIR="${GM_DEV_DIR:-/dev}"
GM_MINIKUBE_FORCE="${GM_MINIKUBE_FORCE:-false}"
require_bool GM_MINIKUBE_FORCE
validate_host_paths
require_path GM_WSL_LIB_DIR
require_path GM_DEV_DIR
if [ -n "${GM_IMAGE:-}" ]; then
    require_match GM_IMAGE '^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$' "an image reference like nvidia/cuda:12.5.0-base-ubuntu22.04"
fi
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

# --- root ---
# minikube's docker driver refuses root: `minikube start` exits with DRV_AS_ROOT ("The "docker" driver
# should not be used with root privileges.") unless --force (k8s.io/minikube v1.38.1,
# cmd/minikube/cmd/start.go validateDriver). Found before anything on the host changes.
uid=$(id -u)
running_as_root=false
if [ "$uid" -eq 0 ]; then
    running_as_root=true
    if [ "$GM_MINIKUBE_FORCE" = true ]; then
        warn "running as root with minikube.force true: 'minikube start' gets --force, which also skips minikube's other safety checks, and the cluster's files belong to root; prefer a normal user in the docker group"
    else
        blocker "running as root: minikube's docker driver refuses root (DRV_AS_ROOT)" "uid 0 ($(id -un 2>/dev/null || echo root))" \
            "run Pulumi as a normal user in the docker group: as root 'usermod -aG docker <user>' (create one with 'adduser <user>'), log in as <user>, run 'sudo -v' so the privileged steps can use sudo, then 'pulumi up'; or accept the risk and pass --force to minikube: pulumi config set --path minikube.force true"
    fi
fi

# --- WSL2 ---
wsl2=false
osrelease=$(cat "${GM_PROC_DIR}/sys/kernel/osrelease" 2>/dev/null) || osrelease=""
shopt -s nocasematch
if [[ "$osrelease" == *microsoft-standard* || "$osrelease" == *wsl2* ]]; then
    wsl2=true
    log "WSL2 detected (kernel ${osrelease})"
    warn "WSL2 is not a supported GPU host for minikube: GPU support with --gpus on WSL2 is an open feature request (https://github.com/kubernetes/minikube/issues/17654) and users report the NVIDIA device plugin finding no GPU there; gpu-minikube has not been shown to work on WSL2, so gpuVerification may well fail"
elif [[ "$osrelease" == *microsoft* ]]; then
    blocker "WSL1 has no GPU support" "kernel ${osrelease}" \
        "convert this distro to WSL2 from Windows: 'wsl --set-version <distro> 2'"
fi
shopt -u nocasematch

# check_modeset — for --gpus all|nvidia minikube starts its node container with
# NVIDIA_DRIVER_CAPABILITIES=all (k8s.io/minikube v1.38.1 pkg/drivers/kic/oci/oci.go CreateContainerNode),
# and "all" includes "display", for which the toolkit's hook mounts /dev/nvidia-modeset. Compute-only
# (headless) driver installs lack it, and the hook then fails with "nvidia-container-cli: mount error:
# stat failed: /dev/nvidia-modeset: no such file or directory" (kubernetes/minikube#20934). A warning, not
# a blocker: the hook's --load-kmods may still create the node (NVIDIA/libnvidia-container#388), and the
# Docker GPU check, which starts a container exactly as minikube does, settles it.
nvidia_modeset=null
check_modeset() {
    [ "$wsl2" = false ] || return 0
    [ "$GM_MINIKUBE_GPUS" != "nvidia.com" ] || return 0
    if [ -e "${GM_DEV_DIR}/nvidia-modeset" ]; then
        nvidia_modeset=true
    else
        nvidia_modeset=false
        warn "${GM_DEV_DIR}/nvidia-modeset is missing (a compute-only/headless driver install): with --gpus ${GM_MINIKUBE_GPUS} minikube asks for all driver capabilities and the toolkit's hook then fails to mount it (https://github.com/kubernetes/minikube/issues/20934); create it with 'sudo nvidia-modprobe -m' (or 'sudo modprobe nvidia-modeset') before 'pulumi up'"
    fi
}

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
    # driver_version is deprecated since R610 ("will be removed in CUDA 14.0. Use KMD Version instead") and
    # kmd_version, its replacement, is unknown to older drivers (580: exit 2, 'Field "kmd_version" is not a
    # valid field to query.'). Today's drivers all answer driver_version, so it is asked first (one call);
    # only a driver that rejects it as an invalid argument (exit 2) is asked for kmd_version.
    rc=0
    smi_out=$(with_deadline "$CALL" "$smi" --query-gpu=index,name,uuid,driver_version --format=csv,noheader 2>&1) || rc=$?
    if [ "$rc" -eq 2 ]; then
        rc=0
        smi_out=$(with_deadline "$CALL" "$smi" --query-gpu=index,name,uuid,kmd_version --format=csv,noheader 2>&1) || rc=$?
    fi
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
            # Only a version is taken: a driver may answer "[N/A]" (or a deprecation note) in that column.
            if [ -z "$driver_version" ] && [[ $drv =~ ^[0-9]+(\.[0-9]+)+$ ]]; then driver_version="$drv"; fi
        done <<<"$smi_out"
        if [ "${#entries[@]}" -eq 0 ]; then
            blocker "no NVIDIA GPU visible" "nvidia-smi listed no GPUs: $(first_line "$smi_out")" \
                "check that the GPU is attached and the driver loaded ('nvidia-smi -L'; in a VM, GPU passthrough)"
        else
            gpus_json="[$(IFS=,; printf '%s' "${entries[*]}")]"
            # R610 says "CUDA UMD Version: 13.3" in the table and "CUDA UMD version : 13.3" in --version (its
            # "CUDA version" line there reads 'Deprecated, see "CUDA UMD version" instead'); older drivers say
            # "CUDA Version" in both.
            table=$(with_deadline "$CALL" "$smi" 2>/dev/null) || table=""
            cuda_version=$(sed -nE 's/.*CUDA (UMD )?Version: *([0-9][0-9.]*).*/\2/p' <<<"$table" | sed -n 1p)
            if [ -z "$cuda_version" ]; then
                cuda_version=$(with_deadline "$CALL" "$smi" --version 2>/dev/null | sed -nE 's/^CUDA (UMD )?[Vv]ersion *: *([0-9][0-9.]*).*/\2/p' | sed -n 1p) || cuda_version=""
            fi
            if [ -z "$driver_version" ]; then
                # The table's banner has it too ("Driver Version:", from R610 "KMD Version:").
                driver_version=$(sed -nE 's/.*NVIDIA-SMI .*(KMD|Driver) Version: *([0-9]+(\.[0-9]+)+).*/\2/p' <<<"$table" | sed -n 1p)
                [ -n "$driver_version" ] ||
                    warn "nvidia-smi gave no driver version (its --query-gpu answer: $(first_line "$smi_out")); hostPrep.driverVersion is empty"
            fi
            log "NVIDIA driver ${driver_version:-unknown}, CUDA ${cuda_version:-unknown}, ${#entries[@]} GPU(s)"
            check_modeset
        fi
    fi
fi

# --- Docker ---
docker_version=""
docker_host=""
if command -v docker >/dev/null 2>&1; then docker_host=$(docker_endpoint); fi
cdi_enabled=false
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
        if [ "$GM_MINIKUBE_GPUS" = "nvidia.com" ] && docker_cdi_enabled; then
            cdi_enabled=true
            if ! docker_cdi_reads_spec_dir; then
                blocker "Docker does not read CDI specs from ${GM_CDI_SPEC_DIR}, where the NVIDIA spec is written" \
                    "docker info: CDISpecDirs=${DOCKER_CDI_SPEC_DIRS}" "$(cdi_spec_dir_fix)"
            fi
        fi
        log "Docker ${docker_version} (${DOCKER_OS}) at ${docker_host}; nvidia runtime: ${nvidia_runtime}; CDI: ${cdi_enabled}"
        if [ "$docker_desktop" = true ] && [ "$wsl2" = false ]; then
            blocker "Docker Desktop for Linux cannot give containers a GPU" "docker info: OperatingSystem=${DOCKER_OS} at ${docker_host}, on Linux (not WSL2)" \
                "Docker Desktop for Linux runs its engine in a VM that has no access to the host's GPU (Docker documents GPU support only for Docker Desktop on Windows with WSL2: https://docs.docker.com/desktop/features/gpu/); install Docker Engine (https://docs.docker.com/engine/install/) and switch to it: 'docker context use default'"
        fi
        if [ "$GM_MINIKUBE_GPUS" = "nvidia.com" ] && ! docker_version_ge "$docker_version" 25.0.0; then
            blocker "minikube.gpus nvidia.com (CDI) needs Docker Engine 25 or newer" "Docker ${docker_version}" \
                "upgrade Docker Engine (https://docs.docker.com/engine/install/), or use the NVIDIA runtime instead: pulumi config set --path minikube.gpus all"
        fi
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
needs_docker_change=false
if [ "$nvidia_runtime" = false ]; then needs_docker_change=true; fi
if [ "$GM_MINIKUBE_GPUS" = "nvidia.com" ] && [ "$cdi_enabled" = false ]; then needs_docker_change=true; fi
if [ "$docker_ok" = true ] && [ "$needs_docker_change" = true ]; then
    if [ "$docker_desktop" = true ] && [ "$wsl2" = false ]; then
        : # blocked above: Docker Desktop for Linux has no GPU at all
    elif [ "$docker_desktop" = true ]; then
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
    elif [ "$GM_MINIKUBE_GPUS" = "nvidia.com" ]; then
        warn "Docker lacks the nvidia runtime or CDI and configureDocker is false: the GPU check will fail until you run 'sudo nvidia-ctk runtime configure --runtime=docker --cdi.enabled', 'sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml' and '$(docker_restart_command)'"
    else
        warn "Docker lists no nvidia runtime and configureDocker is false: the GPU check will fail until you run 'sudo nvidia-ctk runtime configure --runtime=docker' and '$(docker_restart_command)'"
    fi
fi
# For CDI the runtime step also writes the spec (as root) when none is there.
will_write_cdi_spec=false
if [ "$GM_MINIKUBE_GPUS" = "nvidia.com" ] && [ "$GM_CONFIGURE_DOCKER" = true ] && [ ! -s "${GM_CDI_SPEC_DIR}/nvidia.yaml" ]; then
    will_write_cdi_spec=true
fi

# --- sudo, only where root will be needed ---
if [ "$will_install" = true ] || [ "$will_configure" = true ] || [ "$will_write_cdi_spec" = true ]; then
    need=""
    if [ "$will_install" = true ]; then need="installing the NVIDIA Container Toolkit"; fi
    if [ "$will_configure" = true ]; then need="${need:+${need} and }configuring Docker's nvidia runtime"; fi
    if [ "$will_write_cdi_spec" = true ]; then need="${need:+${need} and }writing the CDI spec ${GM_CDI_SPEC_DIR}/nvidia.yaml"; fi
    if [ "$uid" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            blocker "root is needed for ${need}" "not root and no sudo" "$GM_SUDO_FIX"
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
    minikube_version=$(grep -oE 'v[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$mk_out" | sed -n 1p) || minikube_version=""
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

# --- the CUDA image against the driver ---
# nvidia/cuda images require their CUDA version of the driver (NVIDIA_REQUIRE_CUDA "cuda>=12.5 …"): an
# older driver makes the toolkit refuse the container ("unsatisfied condition: cuda>=12.5").
image_cuda=""
if [[ "${GM_IMAGE:-}" =~ (^|/)cuda:([0-9]+\.[0-9]+) ]]; then image_cuda="${BASH_REMATCH[2]}"; fi
if [ -n "$image_cuda" ] && [ -n "$cuda_version" ] && ! version_ge "$cuda_version" "$image_cuda"; then
    warn "the driver supports CUDA ${cuda_version} but ${GM_IMAGE} needs CUDA ${image_cuda}: its containers will fail with 'unsatisfied condition: cuda>=${image_cuda}'; upgrade the NVIDIA driver, or choose an image for CUDA ${cuda_version} or older (pulumi config set --path verification.image nvidia/cuda:<version>-base-ubuntu22.04)"
fi

summary=$(printf '{"stage":"preflight","driverVersion":%s,"cudaVersion":%s,"gpus":%s,"dockerVersion":%s,"dockerDesktop":%s,"wsl2":%s,"minikubeVersion":%s,"toolkitInstalled":%s,"nvidiaRuntime":%s,"bpfJitHarden":%s,"root":%s,"dockerHost":%s,"cdiEnabled":%s,"nvidiaModeset":%s,"warnings":%s' \
    "$(json_str "$driver_version")" "$(json_str_or_null "$cuda_version")" "$gpus_json" "$(json_str "$docker_version")" \
    "$docker_desktop" "$wsl2" "$(json_str "$minikube_version")" "$toolkit_installed" "$nvidia_runtime" "$bpf_json" \
    "$running_as_root" "$(json_str "$docker_host")" "$cdi_enabled" "$nvidia_modeset" \
    "$(json_str_array ${warnings[@]+"${warnings[@]}"})")

if [ "${#blockers[@]}" -gt 0 ]; then
    log "${#blockers[@]} blocker(s) found; nothing was changed on this host:"
    printf '%s\n' "${blockers[@]}" >&2
    printf '%s,"blockers":%s}\n' "$summary" "$(json_str_array "${blockers[@]}")"
    exit 1
fi
log "host is ready for host prep"
printf '%s}\n' "$summary"
