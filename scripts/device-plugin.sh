#!/usr/bin/env bash
# Device plugin. Mode "addon": removes a plugin DaemonSet left by manifest mode (two plugins on one node
# fight over the kubelet socket nvidia-gpu.sock), makes sure minikube's nvidia-device-plugin addon is
# enabled for the profile (with --gpus all/nvidia minikube enables it itself; then it is left alone).
# Mode "manifest": Pulumi deployed NVIDIA's plugin (device-plugin-addon-disable.sh ran first); only the
# wait below runs. Then both wait until EVERY node advertises status.allocatable[GM_RESOURCE_NAME]:
# exactly GM_EXPECTED_PER_NODE when given (shares x physical GPUs), else >= 1. A Running plugin pod proves nothing:
# the addon runs the plugin with FAIL_ON_INIT_ERROR=false, so without a usable driver it stays Running
# with zero GPUs. On timeout the error shows the plugin pod's state, its last log lines and events, and
# the likely causes with their fixes, all within the deadline.
#
# Inputs (environment): GM_PROFILE; GM_KUBECONFIG (kubeconfig text, secret); GM_TIMEOUT_SECONDS;
#   GM_POLL_SECONDS (optional, default 2, at most 2; fractions allowed);
#   GM_PROC_DIR (optional, default /proc: where the host's sysctl values and kernel version are read);
#   GM_MODE (optional, addon | manifest, default addon); GM_RESOURCE_NAME (optional, nvidia.com/gpu or
#   nvidia.com/gpu.shared, default nvidia.com/gpu); GM_EXPECTED_PER_NODE (optional, 1-4096).
# Output (last stdout line):
#   {"stage":"device-plugin","mode":"addon|manifest","enabledByUs":true|false,"resourceName":"nvidia.com/gpu",
#    "expectedPerNode":<int>|null,"gpuAllocatable":{"<node>":<int>,…}}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="device-plugin"

ADDON="nvidia-device-plugin"
PLUGIN_NAMESPACE="kube-system"
# The addon's DaemonSet (deploy/addons/nvidia-device-plugin in minikube) labels its pods so.
ADDON_SELECTOR="name=nvidia-device-plugin-ds"
# Manifest mode's DaemonSet (components/devicePluginManifest.ts), deliberately named apart from the addon's.
MANAGED_DAEMONSET="gpu-minikube-nvidia-device-plugin"
MANAGED_SELECTOR="name=${MANAGED_DAEMONSET}"

require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
require_uint GM_TIMEOUT_SECONDS 1 86400
require_poll_seconds
GM_PROC_DIR="${GM_PROC_DIR:-/proc}"
require_path GM_PROC_DIR
GM_MODE="${GM_MODE:-addon}"
require_enum GM_MODE addon manifest
GM_RESOURCE_NAME="${GM_RESOURCE_NAME:-nvidia.com/gpu}"
require_match GM_RESOURCE_NAME '^nvidia\.com/gpu(\.shared)?$' "nvidia.com/gpu or nvidia.com/gpu.shared"
GM_EXPECTED_PER_NODE="${GM_EXPECTED_PER_NODE:-}"
if [ -n "$GM_EXPECTED_PER_NODE" ]; then require_uint GM_EXPECTED_PER_NODE 1 4096; fi
mode="$GM_MODE"
resource="$GM_RESOURCE_NAME"
expected="${GM_EXPECTED_PER_NODE:+$((10#$GM_EXPECTED_PER_NODE))}"
if [ "$mode" = manifest ]; then PLUGIN_SELECTOR="$MANAGED_SELECTOR"; else PLUGIN_SELECTOR="$ADDON_SELECTOR"; fi
profile="$GM_PROFILE"
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env

require_minikube_and_kubectl_for_profile "$profile"

# --- the addon ----------------------------------------------------------------------------------
state_dir=$(gm_profile_state_dir "$profile")
marker="$state_dir/device-plugin-enabled-by-us"
enabled_by_us=false
# Manifest mode skips this whole section (down to "end of addon mode"): Pulumi manages that plugin.
if [ "$mode" = addon ]; then
rc=0
addons_json=$(with_deadline "$(budget 60)" minikube addons list -p "$profile" -o json 2>"$GM_TMP/addons.err") || rc=$?
addons_json=$(printf '%s' "$addons_json" | tr -d '[:space:]')
if [ "$rc" -ne 0 ]; then
    fail "could not list the addons of profile '${profile}'" "'minikube addons list -p ${profile} -o json' exited ${rc}: $(first_line "$(cat "$GM_TMP/addons.err")")" \
        "check 'minikube status -p ${profile}'"
fi
# {"<addon>":{"Profile":"<profile>","Status":"enabled|disabled"},…} (cmd/minikube/cmd/config/addons_list.go)
entry=$(printf '%s' "$addons_json" | grep -o "\"${ADDON}\":{[^}]*}" || true)
if [ -z "$entry" ]; then
    fail "this minikube has no '${ADDON}' addon" "'minikube addons list' does not list it" \
        "upgrade minikube to v1.32 or newer (https://minikube.sigs.k8s.io/docs/start/)"
fi
if [[ $(printf '%s' "$addons_json" | grep -o '"nvidia-gpu-device-plugin":{[^}]*}' || true) == *'"Status":"enabled"'* ]]; then
    log "WARNING: the deprecated nvidia-gpu-device-plugin addon (KVM only) is enabled too; 'minikube addons disable nvidia-gpu-device-plugin -p ${profile}' removes it"
fi
if [[ $entry == *'"Status":"enabled"'* ]]; then
    if [ -f "$marker" ]; then
        enabled_by_us=true
        log "addon ${ADDON} is enabled (by an earlier run of this step)"
    else
        enabled_by_us=false
        log "addon ${ADDON} is already enabled (by minikube --gpus or by hand): leaving it as it is"
    fi
else
    # Back from manifest mode (which disabled the addon): Pulumi deletes that mode's DaemonSet only at the
    # end of `up`, after this step; until then both plugins would serve the same kubelet socket. Remove it
    # first and wait until its pods are gone.
    rc=0
    existing=$(kube -n "$PLUGIN_NAMESPACE" get daemonset "$MANAGED_DAEMONSET" -o name --ignore-not-found 2>"$GM_TMP/ds.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        # Not fatal here: the wait below reports an API server that does not answer, with diagnostics.
        log "WARNING: could not check for a plugin left by manifest mode ($(kubectl_error "$(cat "$GM_TMP/ds.err")"))"
    elif [ -n "$existing" ]; then
        log "removing the device plugin of manifest mode (daemonset ${MANAGED_DAEMONSET}) before the addon takes over"
        rc=0
        kube -n "$PLUGIN_NAMESPACE" delete daemonset "$MANAGED_DAEMONSET" --ignore-not-found --cascade=foreground --wait=true >&2 || rc=$?
        if [ "$rc" -ne 0 ]; then
            fail "could not remove the plugin left by manifest mode" "'kubectl delete daemonset ${MANAGED_DAEMONSET} -n ${PLUGIN_NAMESPACE}' exited ${rc}" \
                "delete it by hand ('kubectl -n ${PLUGIN_NAMESPACE} delete daemonset ${MANAGED_DAEMONSET}') and run 'pulumi up' again"
        fi
        while left=$(kube -n "$PLUGIN_NAMESPACE" get pods -l "$MANAGED_SELECTOR" -o name 2>/dev/null) && [ -n "$left" ]; do
            if [ "$(date +%s)" -ge "$poll_deadline" ]; then
                fail "the plugin pods of manifest mode did not go away" "$(printf '%s' "$left" | paste -sd' ' -)" \
                    "check 'kubectl -n ${PLUGIN_NAMESPACE} get pods -l ${MANAGED_SELECTOR}' and run 'pulumi up' again"
            fi
            log "waiting for the manifest-mode plugin pods to terminate: $(printf '%s' "$left" | paste -sd' ' -)"
            sleep "$GM_POLL_SECONDS"
        done
    fi
    log "enabling addon ${ADDON} (minikube addons enable ${ADDON} -p ${profile})"
    rc=0
    with_deadline "$(budget 120)" minikube addons enable "$ADDON" -p "$profile" >&2 || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "could not enable the ${ADDON} addon" "'minikube addons enable ${ADDON} -p ${profile}' exited ${rc}" \
            "read minikube's message above; check 'minikube status -p ${profile}'"
    fi
    mkdir -p "$state_dir"
    : >"$marker"
    enabled_by_us=true
fi
fi # end of addon mode

# --- wait for allocatable GPUs ------------------------------------------------------------------
# One line per node: name, allocatable and capacity of the resource (empty when not advertised).
resource_key="${resource//./\\.}"
NODES_JSONPATH="{range .items[*]}{.metadata.name}{\"\\t\"}{.status.allocatable.${resource_key}}{\"\\t\"}{.status.capacity.${resource_key}}{\"\\n\"}{end}"
if [ -n "$expected" ]; then want="${expected}"; else want="at least 1"; fi
begin_polls
poll=0
success=false
nodes_seen=""
last_error=""
while true; do
    poll=$((poll + 1))
    rc=0
    nodes=$(kube get nodes -o jsonpath="$NODES_JSONPATH" 2>"$GM_TMP/kubectl.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        last_error=$(kubectl_error "$(cat "$GM_TMP/kubectl.err")")
        progress="the API server did not answer (${last_error:-kubectl exit ${rc}})"
    else
        nodes_seen="$nodes"
        ready=0
        total=0
        progress=""
        while IFS=$'\037' read -r node alloc _; do
            [ -n "$node" ] || continue
            total=$((total + 1))
            if [[ $alloc =~ ^[0-9]+$ ]]; then
                if { [ -n "$expected" ] && [ "$((10#$alloc))" -eq "$expected" ]; } || { [ -z "$expected" ] && [ "$alloc" -ge 1 ]; }; then
                    ready=$((ready + 1))
                fi
            fi
            progress+="${progress:+, }${node}: ${alloc:-0} allocatable"
        done <<<"$(printf '%s' "$nodes" | tr '\t' '\037')"
        if [ "$total" -gt 0 ] && [ "$ready" -eq "$total" ]; then
            success=true
            break
        fi
        if [ "$total" -eq 0 ]; then progress="no nodes yet"; fi
    fi
    elapsed=$(($(date +%s) - start_s))
    log "poll ${poll} (${elapsed}s of ${timeout_s}s): waiting for ${resource} (${want}) in every node's allocatable: ${progress}"
    if ! poll_time_left; then
        break
    fi
    sleep "$GM_POLL_SECONDS"
done

if [ "$success" = true ]; then
    log "every node advertises ${resource} (${want}): ${progress}"
    printf '{"stage":"device-plugin","mode":"%s","enabledByUs":%s,"resourceName":%s,"expectedPerNode":%s,"gpuAllocatable":%s}\n' \
        "$mode" "$enabled_by_us" "$(json_str "$resource")" "$(json_num_or_null "$expected")" "$(allocatable_json "$nodes_seen")"
    exit 0
fi

# --- diagnostics (bounded by what is left of the deadline) ----------------------------------------
log "${resource} not advertised as expected (${want} per node) after ${poll} polls; collecting diagnostics"
# Bounded: the diagnostics share what is left until the deadline (at least GM_TAIL_MIN_SECONDS).
begin_tail 0
pods=$(kube -n "$PLUGIN_NAMESPACE" get pods -l "$PLUGIN_SELECTOR" -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.nodeName}{"\t"}{.status.phase}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.reason}{.state.terminated.reason}{" restarts="}{.restartCount}{end}{"\n"}{end}' 2>&1) || pods="(could not list the plugin pods: $(kubectl_error "$pods"))"
first_pod=$(printf '%s\n' "$pods" | awk -F'\t' 'NF >= 3 { print $1; exit }')
plugin_log=""
no_log="(empty)"
events=""
if [ -n "$first_pod" ]; then
    # A container that never started has no log: kubectl's reason is shown instead, not taken for the log.
    plugin_log=$(kube -n "$PLUGIN_NAMESPACE" logs "$first_pod" --tail=20 2>"$GM_TMP/log.err") ||
        { plugin_log=""; no_log="(no log: $(kubectl_error "$(cat "$GM_TMP/log.err")"))"; }
    # Whole messages (kubectl's table cuts a message at its first line, and the NVIDIA hook's BPF
    # error is on the second line of the kubelet's "Failed" event): "<type> <reason>: <message>".
    events=$(kube -n "$PLUGIN_NAMESPACE" get events --field-selector "involvedObject.name=${first_pod}" \
        -o jsonpath='{range .items[*]}{.type}{" "}{.reason}{": "}{.message}{"\n"}{end}' 2>&1) || true
fi
bpf=$(cat "$GM_PROC_DIR/sys/net/core/bpf_jit_harden" 2>/dev/null || true)
wsl=false
if grep -qi microsoft "$GM_PROC_DIR/version" 2>/dev/null; then wsl=true; fi

causes=()
evidence="$plugin_log
$events"
if [ -z "$first_pod" ] && [ "$mode" = manifest ]; then
    causes+=("no plugin pod exists: the DaemonSet ${MANAGED_DAEMONSET} did not schedule one. Fix: check 'kubectl -n ${PLUGIN_NAMESPACE} describe daemonset ${MANAGED_DAEMONSET}' (events, node taints), then 'pulumi up' again")
elif [ -z "$first_pod" ]; then
    causes+=("no plugin pod exists: the ${ADDON} addon's DaemonSet did not schedule one. Fix: check 'minikube addons list -p ${profile}' and 'kubectl -n ${PLUGIN_NAMESPACE} get daemonset nvidia-device-plugin-daemonset'; 'minikube addons disable ${ADDON} -p ${profile}' then 'pulumi up' re-deploys it")
fi
# Advertised, but not the count expected: the config (replicas) or the host's GPU count differs.
wrong_count=$(printf '%s\n' "$nodes_seen" | awk -F'\t' -v want="$expected" 'want != "" && $2 ~ /^[0-9]+$/ && $2 + 0 > 0 && $2 + 0 != want + 0 { printf "%s%s: %s", sep, $1, $2; sep = ", " }')
if [ -n "$wrong_count" ]; then
    causes+=("a node advertises a different number of ${resource} than expected (${wrong_count}; expected ${expected} = shares per GPU x the host's GPUs): the plugin has not restarted with the new config yet, or it sees a different number of GPUs than the host. Fix: check 'kubectl -n ${PLUGIN_NAMESPACE} get pods -l ${PLUGIN_SELECTOR}' and the plugin's log (it prints its config at start), then 'pulumi up' again")
fi
# The NVIDIA hook's BPF failure (net.core.bpf_jit_harden != 0) is named by its exact message.
bpf_seen=false
if printf '%s' "$evidence" | grep -iE 'last insn is not an exit or jmp' >/dev/null; then
    bpf_seen=true
    causes+=("the NVIDIA container hook failed on BPF ('last insn is not an exit or jmp'): net.core.bpf_jit_harden is not 0 on this host. Fix: 'sudo sysctl -w net.core.bpf_jit_harden=0' (persist it in /etc/sysctl.d/), then 'minikube delete -p ${profile}' and 'pulumi up'")
fi
toolkit_cause="the toolkit was configured after the cluster was created, or the profile was created without --gpus. Fix: 'minikube delete -p ${profile}' then 'pulumi up' (or set gpu-minikube:minikube.recreateIfIncompatible true)"
if printf '%s' "$evidence" | grep -iE 'NVML|libnvidia-ml|Incompatible strategy|did you (set|configure)|No devices found' >/dev/null; then
    toolkit_cause=""
    causes+=("the plugin sees no NVIDIA driver inside the node: the cluster was most likely created before the NVIDIA Container Toolkit was configured for Docker (minikube never re-checks the host). Fix: recreate the profile: 'minikube delete -p ${profile}' then 'pulumi up' (or set gpu-minikube:minikube.recreateIfIncompatible true)")
fi
if [ "$bpf_seen" = false ] && [[ $bpf =~ ^[0-9]+$ ]] && [ "$bpf" -ne 0 ]; then
    causes+=("this host has net.core.bpf_jit_harden=${bpf}; minikube's GPU guide requires 0 (else nvidia-container-cli fails with 'last insn is not an exit or jmp'). Fix: 'sudo sysctl -w net.core.bpf_jit_harden=0', then 'minikube delete -p ${profile}' and 'pulumi up'")
fi
if printf '%s' "$pods" | grep -E 'ErrImagePull|ImagePullBackOff' >/dev/null; then
    causes+=("the plugin image cannot be pulled into the node. Fix: check the host's network access to nvcr.io, then 'pulumi up' again")
fi
if [ "$wsl" = true ]; then
    causes+=("WSL2: the NVIDIA driver is installed on Windows only (never a Linux driver inside WSL), 'nvidia-smi' must work inside WSL (it lives in /usr/lib/wsl/lib); with Docker Desktop the nvidia runtime goes into Docker Engine settings; device plugin v0.19.1+ reports one GPU whatever the count")
fi
if [ -n "$toolkit_cause" ]; then causes+=("$toolkit_cause"); fi
causes+=("a slow first start: the plugin image was still being pulled. Fix: raise gpu-minikube:devicePlugin.timeoutSeconds and run 'pulumi up' again")

# "<pod> on <node>: <phase> (<reason>) restarts=<n>" per pod, ";"-separated.
pod_state=$(printf '%s\n' "$pods" | awk -F'\t' 'NF >= 3 {
    detail = $4; sub(/^ +/, "", detail)
    printf "%s%s on %s: %s%s", sep, $1, ($2 == "" ? "no node" : $2), $3, (detail == "" ? "" : ", " detail); sep = "; " }')
if [ -z "$first_pod" ] && [ -n "$(printf '%s' "$pods" | tr -d '[:space:]')" ]; then pod_state=$(first_line "$pods"); fi
{
    printf '[%s] diagnostics:\n' "$GM_STAGE"
    printf '  nodes (name, allocatable, capacity of %s; expected %s):\n' "$resource" "$want"
    if [ -n "$nodes_seen" ]; then
        printf '%s\n' "$nodes_seen" | awk -F'\t' '$1 != "" { printf "  | %s: allocatable %s, capacity %s\n", $1, ($2 == "" ? "none" : $2), ($3 == "" ? "none" : $3) }'
    else
        printf '  | (none seen%s)\n' "${last_error:+: ${last_error}}"
    fi
    printf '  plugin pods (-n %s -l %s):\n' "$PLUGIN_NAMESPACE" "$PLUGIN_SELECTOR"
    if [ -n "$pod_state" ]; then printf '%s\n' "$pod_state" | tr ';' '\n' | sed 's/^ *//; s/^/  | /'; else printf '  | (none)\n'; fi
    if [ -n "$first_pod" ]; then
        printf '  last log lines of %s:\n' "$first_pod"
        if [ -n "$plugin_log" ]; then tail_lines 20 "$plugin_log"; else printf '  | %s\n' "$no_log"; fi
        printf '  events of %s:\n' "$first_pod"
        if [ -n "$events" ]; then tail_lines 10 "$events"; else printf '  | (none)\n'; fi
    fi
    printf '  host: net.core.bpf_jit_harden=%s, WSL2=%s\n' "${bpf:-unknown}" "$wsl"
    printf '  likely causes, most likely first:\n'
    i=0
    for cause in "${causes[@]}"; do
        i=$((i + 1))
        printf '    %d. %s\n' "$i" "$cause"
    done
} >&2

found_nodes=$(printf '%s\n' "$nodes_seen" | awk -F'\t' 'NF >= 1 && $1 != "" { printf "%s%s allocatable %s", sep, $1, ($2 == "" ? "none" : $2); sep = ", " }')
if [ -n "$expected" ]; then what="not every node advertised ${expected} ${resource} within ${timeout_s}s"; else what="no node advertised ${resource} within ${timeout_s}s"; fi
fail "$what" \
    "${found_nodes:-no nodes seen${last_error:+ (${last_error})}}; plugin pod: ${pod_state:-none}; most likely: ${causes[0]%%. Fix: *}" \
    "${causes[0]#*. Fix: } (every likely cause, the plugin's log and events are listed above)"
