#!/usr/bin/env bash
# Starts (or creates) the GPU minikube profile and returns its self-contained kubeconfig.
#
#   running with the same settings   -> nothing is started (action "unchanged"; missing addons are enabled)
#   stopped (or node container gone) -> `minikube start -p <profile>` with the same flags ("started")
#   absent                           -> `minikube start -p <profile> --driver=docker --container-runtime=docker
#                                       --gpus=… --cpus=… --memory=… --kubernetes-version=… --keep-context
#                                       --addons=…` ("created"); a stopped profile restarts with the
#                                       Kubernetes version its config records
#   The user's current kubectl context is kept (--keep-context).
#   exists, but created without GPUs or with another driver, container runtime, cpus, memory or
#   Kubernetes version (minikube cannot change those in place)
#                                    -> GM_RECREATE_IF_INCOMPATIBLE=true: `minikube delete -p <profile>`, then
#                                       create ("recreated"); otherwise an error naming every difference and
#                                       the commands that fix it.
#
# Inputs (environment): GM_PROFILE, GM_DRIVER (docker), GM_GPUS (all|nvidia|nvidia.com), GM_CPUS,
#   GM_MEMORY (8g|8192|8192mb|max|no-limit), GM_KUBERNETES_VERSION (stable|latest|v1.x.y),
#   GM_ADDONS (comma-separated, may be empty), GM_START_TIMEOUT_SECONDS (deadline of the whole step),
#   GM_RECREATE_IF_INCOMPATIBLE (true|false), GM_START_TOKEN (recorded for minikube-observe.sh),
#   GM_MINIKUBE_FORCE (true|false, default false: minikube.force; true adds --force, which lets the
#   docker driver run as root — minikube refuses it with DRV_AS_ROOT otherwise — and skips minikube's
#   other validations).
# Output (last stdout line): {"stage":"cluster","profile":…,"action":"created|started|unchanged|recreated",
#   "minikubeVersion":…,"kubernetesVersion":…,"apiServer":…,"kubeconfig":"<yaml>"} — the kubeconfig
#   embeds the certificates and is a secret. The user's ~/.kube/config is touched only by
#   `minikube start` itself; the kubeconfig returned here is built in a private temp dir.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="cluster"

# --- inputs ---------------------------------------------------------------------------------
require_env GM_PROFILE GM_MEMORY GM_KUBERNETES_VERSION GM_ADDONS GM_START_TOKEN
require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
require_enum GM_DRIVER docker
require_enum GM_GPUS all nvidia nvidia.com
require_uint GM_CPUS 2 1024
require_match GM_MEMORY '^(max|no-limit|[1-9][0-9]{0,6}([mMgG][bB]?)?)$' \
    "a size in MB or with a unit (8192, 8192mb, 8g), or max / no-limit"
require_match GM_KUBERNETES_VERSION '^(stable|latest|v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})$' \
    "stable, latest or a version like v1.34.0"
require_match GM_ADDONS '^([a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(,[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*)?$' \
    "a comma-separated list of addon names (lowercase letters, digits, '-'), or empty"
require_uint GM_START_TIMEOUT_SECONDS 1 86400
require_bool GM_RECREATE_IF_INCOMPATIBLE
require_match GM_START_TOKEN '^[A-Za-z0-9._-]{0,128}$' "up to 128 letters, digits, '.', '_' or '-'"
GM_MINIKUBE_FORCE="${GM_MINIKUBE_FORCE:-false}"
require_bool GM_MINIKUBE_FORCE

profile="$GM_PROFILE"
timeout_s=$((10#$GM_START_TIMEOUT_SECONDS))
deadline=$(($(date +%s) + timeout_s))
want_k8s="$GM_KUBERNETES_VERSION"
case "$want_k8s" in stable | latest) ;; v*) ;; *) want_k8s="v${want_k8s}" ;; esac
addons=()
if [ -n "$GM_ADDONS" ]; then IFS=',' read -r -a addons <<<"$GM_ADDONS"; fi

# memory_mb VALUE — VALUE (minikube's --memory syntax) in MB as minikube computes it (binary units;
# a bare number is MB); empty for max / no-limit, which have no fixed size to compare.
memory_mb() {
    local v="${1,,}" n
    case "$v" in
        max | no-limit) return 0 ;;
        *gb | *g) n="${v%b}" && n="${n%g}" && printf '%d' "$((10#$n * 1024))" ;;
        *mb | *m) n="${v%b}" && n="${n%m}" && printf '%d' "$((10#$n))" ;;
        *) printf '%d' "$((10#$v))" ;;
    esac
}
want_mem_mb=$(memory_mb "$GM_MEMORY")

# gpu_kind VALUE — "all" and "nvidia" give the node the same devices (the NVIDIA runtime);
# "nvidia.com" is the CDI mechanism; "" is no GPU support.
gpu_kind() {
    case "$1" in all | nvidia) printf 'nvidia-runtime' ;; nvidia.com) printf 'cdi' ;; *) printf '%s' "$1" ;; esac
}

# --- preflight ------------------------------------------------------------------------------
if ! command -v minikube >/dev/null 2>&1; then
    fail "minikube is not installed" "no minikube on PATH" \
        "install it (https://minikube.sigs.k8s.io/docs/start/): curl -LO https://github.com/kubernetes/minikube/releases/latest/download/minikube-linux-amd64 && sudo install minikube-linux-amd64 /usr/local/bin/minikube"
fi
mk_version=$(with_deadline "$(budget 30)" minikube version --short 2>/dev/null | sed -n 1p | tr -d '[:space:]') || mk_version=""
if ! [[ $mk_version =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
    log "WARNING: could not read the minikube version ('minikube version --short' printed '${mk_version:0:40}'); continuing"
    mk_version=""
else
    mk_version="${BASH_REMATCH[0]}"
    if ! version_ge "$mk_version" v1.32.0; then
        fail "minikube ${mk_version} is too old for GPUs" "minikube ${mk_version} (the --gpus flag needs v1.32.0 or newer)" \
            "upgrade minikube: curl -LO https://github.com/kubernetes/minikube/releases/latest/download/minikube-linux-amd64 && sudo install minikube-linux-amd64 /usr/local/bin/minikube"
    fi
    if [ "$GM_GPUS" = "nvidia.com" ] && ! version_ge "$mk_version" v1.37.0; then
        fail "--gpus=nvidia.com (CDI) needs minikube v1.37.0 or newer" "minikube ${mk_version}" \
            "upgrade minikube, or set gpu-minikube:minikube.gpus to all: pulumi config set --path 'gpu-minikube:minikube.gpus' all"
    fi
fi
private_tmpdir

# --- decide -----------------------------------------------------------------------------------
config_file=$(minikube_profile_config "$profile")
state=$(minikube_profile_state "$profile" "$(budget 30)")
log "profile ${profile}: ${state} (minikube ${mk_version:-unknown}, config ${config_file})"

action=""
if [ "$state" != "Absent" ]; then
    have_driver=$(json_get "$config_file" Driver)
    have_gpus=$(json_get "$config_file" GPUs)
    have_cpus=$(json_get "$config_file" CPUs)
    have_mem=$(json_get "$config_file" Memory)
    have_k8s=$(json_get "$config_file" KubernetesConfig.KubernetesVersion)
    have_runtime=$(json_get "$config_file" KubernetesConfig.ContainerRuntime)
    diffs=()
    if [ -z "$have_gpus" ]; then
        diffs+=("created without GPU support (its config has no GPUs setting: started without --gpus, or by minikube older than v1.32)")
    elif [ "$(gpu_kind "$have_gpus")" != "$(gpu_kind "$GM_GPUS")" ]; then
        diffs+=("gpus: the profile has '${have_gpus}', the configuration wants '${GM_GPUS}'")
    fi
    if [ -n "$have_driver" ] && [ "$have_driver" != "$GM_DRIVER" ]; then
        diffs+=("driver: the profile has '${have_driver}', the configuration wants '${GM_DRIVER}'")
    fi
    if [ -n "$have_runtime" ] && [ "$have_runtime" != "docker" ]; then
        diffs+=("container runtime: the profile has '${have_runtime}', GPUs need 'docker'")
    fi
    if [[ $have_cpus =~ ^[0-9]+$ ]] && [ "$((10#$have_cpus))" -ne "$((10#$GM_CPUS))" ]; then
        diffs+=("cpus: the profile has ${have_cpus}, the configuration wants ${GM_CPUS}")
    fi
    if [ -n "$want_mem_mb" ] && [[ $have_mem =~ ^[0-9]+$ ]] && [ "$((10#$have_mem))" -ne "$want_mem_mb" ]; then
        diffs+=("memory: the profile has ${have_mem} MB, the configuration wants ${want_mem_mb} MB (${GM_MEMORY})")
    fi
    if [[ $want_k8s == v* ]] && [ -n "$have_k8s" ] && [ "$have_k8s" != "$want_k8s" ]; then
        diffs+=("kubernetes version: the profile has ${have_k8s}, the configuration wants ${want_k8s}")
    fi
    if [ "${#diffs[@]}" -gt 0 ]; then
        found=$(printf '%s; ' "${diffs[@]}")
        found="${found%; }"
        if ! is_true "$GM_RECREATE_IF_INCOMPATIBLE"; then
            fail "minikube profile '${profile}' exists but cannot take the configured settings in place" "${found}" \
                "delete and recreate it (this deletes the cluster and everything in it): run 'minikube delete -p ${profile}' and then 'pulumi up'; or let pulumi up do that: pulumi config set --path 'gpu-minikube:minikube.recreateIfIncompatible' true"
        fi
        log "!!! RECREATING minikube profile '${profile}': ${found}"
        log "!!! gpu-minikube:minikube.recreateIfIncompatible is true: running 'minikube delete -p ${profile}'; everything in the cluster is lost"
        rc=0
        with_deadline "$(budget 300)" minikube delete -p "$profile" >&2 || rc=$?
        if [ "$rc" -ne 0 ]; then
            fail "could not delete the incompatible profile '${profile}'" "'minikube delete -p ${profile}' exited ${rc}" \
                "run 'minikube delete -p ${profile}' by hand, read its message, then run 'pulumi up' again"
        fi
        action="recreated"
    elif [ "$state" = "Running" ]; then
        action="unchanged"
    else
        action="started"
    fi
else
    action="created"
fi

# --- start ------------------------------------------------------------------------------------
if [ "$action" = "unchanged" ]; then
    log "profile ${profile} is running with the configured settings: not starting it"
    if [ "${#addons[@]}" -gt 0 ]; then
        addon_json=$(with_deadline "$(budget 60)" minikube addons list -p "$profile" -o json 2>/dev/null | tr -d '[:space:]') || addon_json=""
        for addon in "${addons[@]}"; do
            # `addons list -o json` prints {"<addon>":{"Profile":"<p>","Status":"enabled|disabled"},…}
            entry=$(printf '%s' "$addon_json" | grep -o "\"${addon}\":{[^}]*}" || true)
            if [[ $entry == *'"Status":"enabled"'* ]]; then continue; fi
            log "enabling addon ${addon} (configured, not enabled)"
            rc=0
            with_deadline "$(budget 300)" minikube addons enable "$addon" -p "$profile" >&2 || rc=$?
            if [ "$rc" -ne 0 ]; then
                fail "could not enable the addon '${addon}' on profile '${profile}'" "'minikube addons enable ${addon} -p ${profile}' exited ${rc}" \
                    "check the addon name ('minikube addons list -p ${profile}') and gpu-minikube:minikube.addons"
            fi
        done
    fi
else
    # A stopped profile restarts with its own recorded Kubernetes version: "stable"/"latest" resolve
    # to minikube's current default, so after a minikube upgrade they would upgrade the cluster.
    start_k8s="$want_k8s"
    if [ "$action" = "started" ] && [ -n "${have_k8s:-}" ]; then start_k8s="$have_k8s"; fi
    # --keep-context: the user's current kubectl context stays as it was; we never need it (the
    # kubeconfig we return is built from update-context on a private file).
    args=(start -p "$profile" --driver="$GM_DRIVER" --container-runtime=docker --gpus="$GM_GPUS"
        --cpus="$((10#$GM_CPUS))" --memory="$GM_MEMORY" --kubernetes-version="$start_k8s" --keep-context --interactive=false)
    for addon in "${addons[@]}"; do args+=(--addons="$addon"); done
    if [ "$GM_MINIKUBE_FORCE" = true ]; then args+=(--force); fi
    left=$((deadline - $(date +%s)))
    if [ "$left" -lt 1 ]; then
        fail "no time left to start minikube" "the ${timeout_s}s deadline passed before 'minikube start'" \
            "raise gpu-minikube:minikube.startTimeoutSeconds"
    fi
    log "running: minikube ${args[*]} (deadline ${left}s)"
    start_log="$GM_TMP/minikube-start.log"
    rc=0
    with_deadline "$left" minikube "${args[@]}" 2>&1 | tee "$start_log" >&2 || rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        last=$(tail_lines 20 "$(cat "$start_log")")
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            log "minikube start did not finish within ${timeout_s}s; its last output:"
            printf '%s\n' "$last" >&2
            fail "minikube start did not finish within the ${timeout_s}s deadline" "last output: $(printf '%s' "$last" | tail -n 1 | sed 's/^  | //')" \
                "look at the output above; the first start downloads ~1 GB (base image, Kubernetes preload), so raise gpu-minikube:minikube.startTimeoutSeconds if it was still making progress; check 'docker info' and 'minikube logs -p ${profile}'"
        fi
        reason=$(grep -o 'Exiting due to .*' "$start_log" | tail -n 1 || true)
        log "minikube start failed (exit ${rc}); its last output:"
        printf '%s\n' "$last" >&2
        # minikube starts its node with NVIDIA_DRIVER_CAPABILITIES=all for --gpus all|nvidia
        # (pkg/drivers/kic/oci/oci.go); on compute-only drivers the toolkit's prestart hook then fails
        # with "nvidia-container-cli: mount error: stat failed: /dev/nvidia-modeset: no such file or
        # directory" (kubernetes/minikube#20934).
        if grep -q 'stat failed: /dev/nvidia-modeset' "$start_log"; then
            fail "minikube could not start its node container: the NVIDIA driver has no /dev/nvidia-modeset (a compute-only/headless install)" \
                "$(grep -o 'nvidia-container-cli: mount error: stat failed: /dev/nvidia-modeset[^:]*: no such file or directory' "$start_log" | sed -n 1p)" \
                "minikube asks for all driver capabilities (https://github.com/kubernetes/minikube/issues/20934): run 'sudo nvidia-modprobe -m' (or 'sudo modprobe nvidia-modeset'), check 'ls -l /dev/nvidia-modeset', then 'minikube delete -p ${profile}' and 'pulumi up' again"
        fi
        if grep -q 'DRV_AS_ROOT' "$start_log"; then
            fail "minikube refuses to run the docker driver as root" "${reason:-DRV_AS_ROOT}" \
                "run Pulumi as a normal user in the docker group (as root: 'usermod -aG docker <user>'; then as <user>: 'sudo -v' and 'pulumi up'), or accept the risk: pulumi config set --path minikube.force true"
        fi
        fail "minikube start failed (exit ${rc})" "${reason:-$(printf '%s' "$last" | tail -n 1 | sed 's/^  | //')}" \
            "read minikube's message above and fix what it names (Docker running? 'docker info'; GPU runtime configured?); 'minikube logs -p ${profile}' has details; if the profile is broken, 'minikube delete -p ${profile}' and run 'pulumi up' again"
    fi
fi

# --- kubeconfig ---------------------------------------------------------------------------------
# `minikube update-context` writes the profile's cluster, user and context into the kubeconfig that
# $KUBECONFIG names (pkg/minikube/kubeconfig UpdateEndpoint repairs a missing entry): pointing it at
# a fresh private file gives minikube's own endpoint (forwarded port and all) without reading or
# touching the user's kubeconfig. Certificate paths are then embedded so the result stands alone.
mkdir -m 700 "$GM_TMP/kube"
rc=0
KUBECONFIG="$GM_TMP/kube/config" with_deadline "$(budget 60)" minikube -p "$profile" update-context >&2 || rc=$?
if [ "$rc" -ne 0 ] || [ ! -s "$GM_TMP/kube/config" ]; then
    fail "could not get the kubeconfig of profile '${profile}'" "'minikube -p ${profile} update-context' exited ${rc}" \
        "check 'minikube status -p ${profile}'; if the cluster is not running, run 'pulumi up' again"
fi

# kc_field KEY — the first value of KEY in the generated kubeconfig (quotes removed).
kc_field() {
    awk -v key="$1" '
        { line = $0; sub(/^[ \t-]+/, "", line) }
        index(line, key ": ") == 1 {
            v = substr(line, length(key) + 3); sub(/[ \t]+$/, "", v)
            if (v ~ /^".*"$/ || v ~ /^'\''.*'\''$/) v = substr(v, 2, length(v) - 2)
            print v; exit
        }' "$GM_TMP/kube/config"
}

# kc_data NAME — base64 of NAME's certificate or key: NAME-data as minikube wrote it, or the file
# at NAME read and encoded here.
kc_data() {
    local data file
    data=$(kc_field "$1-data")
    if [ -n "$data" ]; then
        printf '%s' "$data"
        return 0
    fi
    file=$(kc_field "$1")
    if [ -z "$file" ] || [ ! -r "$file" ]; then
        fail "the kubeconfig of profile '${profile}' names no readable $1" "'${file:-nothing}'" \
            "check that $(minikube_home) is readable by this user; if it is damaged, 'minikube delete -p ${profile}' and run 'pulumi up' again"
    fi
    base64 -w 0 <"$file"
}

server=$(kc_field server)
server_re='^https://[][A-Za-z0-9.:_-]+$'
if ! [[ $server =~ $server_re ]]; then
    fail "the kubeconfig of profile '${profile}' has no usable API server address" "server '${server}'" \
        "check 'minikube status -p ${profile}' and 'minikube ip -p ${profile}'"
fi
ca_data=$(kc_data certificate-authority)
cert_data=$(kc_data client-certificate)
key_data=$(kc_data client-key)
kubeconfig="apiVersion: v1
kind: Config
clusters:
- name: ${profile}
  cluster:
    server: ${server}
    certificate-authority-data: ${ca_data}
users:
- name: ${profile}
  user:
    client-certificate-data: ${cert_data}
    client-key-data: ${key_data}
contexts:
- name: ${profile}
  context:
    cluster: ${profile}
    user: ${profile}
    namespace: default
current-context: ${profile}
preferences: {}
"

# --- record and report ------------------------------------------------------------------------
k8s_version=$(json_get "$config_file" KubernetesConfig.KubernetesVersion 2>/dev/null || true)
state_dir=$(gm_profile_state_dir "$profile")
mkdir -p "$state_dir"
if [ "$action" = "created" ] || [ "$action" = "recreated" ]; then
    # A new cluster: whatever we noted about the old one (e.g. that we enabled an addon) is void.
    rm -f "$state_dir/device-plugin-enabled-by-us"
fi
if [ -n "$GM_START_TOKEN" ]; then
    printf '%s\n' "$GM_START_TOKEN" >"$state_dir/start-token.tmp"
    mv -f "$state_dir/start-token.tmp" "$state_dir/start-token"
fi
log "profile ${profile}: ${action}; API server ${server}; Kubernetes ${k8s_version:-unknown}"
printf '{"stage":"cluster","profile":%s,"action":%s,"minikubeVersion":%s,"kubernetesVersion":%s,"apiServer":%s,"kubeconfig":%s}\n' \
    "$(json_str "$profile")" "$(json_str "$action")" "$(json_str_or_null "$mk_version")" \
    "$(json_str_or_null "$k8s_version")" "$(json_str "$server")" "$(json_str "$kubeconfig")"
