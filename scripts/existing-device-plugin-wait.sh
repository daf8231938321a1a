#!/usr/bin/env bash
# Existing cluster, devicePlugin.mode "manifest": Pulumi has applied NVIDIA's device plugin (ConfigMap +
# DaemonSet, placed on the GPU nodes by GM_NODE_SELECTOR) through the cluster's provider. This waits,
# read-only (kubectl get only; nothing on this machine changes), until
#   - the DaemonSet is rolled out: every pod it wants is updated and available, and
#   - EVERY node matching GM_NODE_SELECTOR advertises status.allocatable[GM_RESOURCE_NAME]: exactly
#     GM_SHARES_PER_GPU x its GPU count when GPU Feature Discovery labelled the node with
#     nvidia.com/gpu.count, else a non-zero multiple of GM_SHARES_PER_GPU (the physical count is
#     unknown without that label).
# Nodes outside the selector are never waited for. No minikube, no host state.
# At the deadline, a node still short (not Ready, no working plugin pod, fewer GPUs than expected) is a
# per-node problem, not a failure of this step: it exits 0 and names each short node with its reason
# in "short" (and on stderr, with the first short node's plugin log), so the per-node verification
# still verifies the others and gives each short node a failing verdict. It fails (exit 1) only when
# nothing can be verified: no node carries the labels (at once), the API server does not answer the
# last poll, the DaemonSet cannot be read, or every node advertises but the rollout never finishes.
# Short nodes are waited for until the deadline (they may still come up).
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret); GM_NODE_SELECTOR ("key=value,…", the
#   plugin's placement; required, not empty); GM_DAEMONSET (the plugin DaemonSet's name, in kube-system);
#   GM_RESOURCE_NAME (nvidia.com/gpu or nvidia.com/gpu.shared); GM_SHARES_PER_GPU (1-64);
#   GM_TIMEOUT_SECONDS; GM_POLL_SECONDS (optional, default 2, at most 2).
# Output (last stdout line):
#   {"stage":"existing-device-plugin","resourceName":"nvidia.com/gpu","sharesPerGpu":<int>,"gpuAllocatable":{"<node>":<int>,…},
#    "short":{"<node>":"<why it is short>",…}}   ("short" is {} when every placed node advertises its GPUs)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/gpu-nodes.sh
source "$(dirname "$0")/lib/gpu-nodes.sh"
GM_STAGE="device-plugin"

PLUGIN_NAMESPACE="kube-system"
require_env GM_DAEMONSET
require_match GM_DAEMONSET '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' "a DaemonSet name (DNS-1123 label)"
require_node_selector
if [ -z "$GM_NODE_SELECTOR" ]; then
    fail "input GM_NODE_SELECTOR is empty" "no placement labels" "run this step through the Pulumi program (it passes the plugin's node selector)"
fi
GM_RESOURCE_NAME="${GM_RESOURCE_NAME:-nvidia.com/gpu}"
require_match GM_RESOURCE_NAME '^nvidia\.com/gpu(\.shared)?$' "nvidia.com/gpu or nvidia.com/gpu.shared"
require_uint GM_SHARES_PER_GPU 1 64
require_uint GM_TIMEOUT_SECONDS 1 86400
require_poll_seconds
ds="$GM_DAEMONSET"
resource="$GM_RESOURCE_NAME"
shares=$((10#$GM_SHARES_PER_GPU))
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env
require_kubectl

resource_key="${resource//./\\.}"
# One line per placed node: name, allocatable, capacity of the resource, GFD's nvidia.com/gpu.count label,
# the Ready condition's status.
NODES_JSONPATH="{range .items[*]}{.metadata.name}{\"\\t\"}{.status.allocatable.${resource_key}}{\"\\t\"}{.status.capacity.${resource_key}}{\"\\t\"}{.metadata.labels.nvidia\\.com/gpu\\.count}{\"\\t\"}{range .status.conditions[?(@.type==\"Ready\")]}{.status}{end}{\"\\n\"}{end}"
# The DaemonSet's rollout, as `kubectl rollout status` reads it.
DS_JSONPATH='{.metadata.generation}{"\t"}{.status.observedGeneration}{"\t"}{.status.desiredNumberScheduled}{"\t"}{.status.updatedNumberScheduled}{"\t"}{.status.numberAvailable}'

# want_for COUNT_LABEL — the expected allocatable, as text for messages.
want_for() {
    if [[ $1 =~ ^[0-9]{1,4}$ ]] && [ "$((10#$1))" -gt 0 ]; then printf '%d' "$((10#$1 * shares))"; else printf 'a non-zero multiple of %d' "$shares"; fi
}
# node_ok ALLOC COUNT_LABEL — the node advertises what it should.
node_ok() {
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    local alloc=$((10#$1))
    if [[ $2 =~ ^[0-9]{1,4}$ ]] && [ "$((10#$2))" -gt 0 ]; then
        [ "$alloc" -eq "$((10#$2 * shares))" ]
    else
        [ "$alloc" -gt 0 ] && [ "$((alloc % shares))" -eq 0 ]
    fi
}

poll=0
success=false
nodes_seen=""
rollout=""
last_error=""
api_ok=false
ds_ok=false
while true; do
    poll=$((poll + 1))
    rc=0
    nodes=$(kube get nodes -l "$GM_NODE_SELECTOR" -o jsonpath="$NODES_JSONPATH" 2>"$GM_TMP/nodes.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        api_ok=false
        last_error=$(kubectl_error "$(cat "$GM_TMP/nodes.err")")
        progress="the API server did not answer (${last_error:-kubectl exit ${rc}})"
    else
        api_ok=true
        nodes_seen="$nodes"
        if [ -z "$(printf '%s' "$nodes" | tr -d '[:space:]')" ]; then
            # Nothing to place the plugin on: no amount of waiting fixes a missing label.
            fail "no node matches the device plugin's node selector ${GM_NODE_SELECTOR}" "0 nodes with those labels" \
                "label your GPU nodes ('kubectl label node <name> ${GM_NODE_SELECTOR//,/ }') or set gpu-minikube:verification.nodeSelector to labels they carry, then run 'pulumi up' again"
        fi
        ready=0 total=0 progress=""
        while IFS=$'\037' read -r node alloc _ count _; do
            [ -n "$node" ] || continue
            total=$((total + 1))
            if node_ok "$alloc" "$count"; then ready=$((ready + 1)); fi
            progress+="${progress:+, }${node}: ${alloc:-none}"
        done <<<"$(printf '%s' "$nodes" | tr '\t' '\037')"
        rc=0
        rollout=$(kube -n "$PLUGIN_NAMESPACE" get daemonset "$ds" -o jsonpath="$DS_JSONPATH" 2>"$GM_TMP/ds.err") || rc=$?
        rolled_out=false
        if [ "$rc" -ne 0 ]; then
            ds_ok=false
            rollout="(not readable: $(kubectl_error "$(cat "$GM_TMP/ds.err")"))"
        else
            ds_ok=true
            IFS=$'\t' read -r gen observed desired updated available <<<"$rollout"
            if [ -n "$gen" ] && [ "${observed:-0}" -ge "$gen" ] && [ "${updated:-0}" -eq "${desired:-0}" ] && [ "${available:-0}" -eq "${desired:-0}" ]; then
                rolled_out=true
            fi
            rollout="${updated:-0} of ${desired:-0} pods updated, ${available:-0} available"
        fi
        if [ "$ready" -eq "$total" ] && [ "$rolled_out" = true ]; then
            success=true
            break
        fi
        progress="${ready}/${total} node(s) advertise it (${progress}); daemonset ${ds}: ${rollout}"
    fi
    elapsed=$(($(date +%s) - start_s))
    log "poll ${poll} (${elapsed}s of ${timeout_s}s): waiting for ${resource} on every node matching ${GM_NODE_SELECTOR}: ${progress}"
    if [ "$(date +%s)" -ge "$poll_deadline" ]; then
        break
    fi
    sleep "$GM_POLL_SECONDS"
done

if [ "$success" = true ]; then
    log "every node matching ${GM_NODE_SELECTOR} advertises ${resource}; daemonset ${ds}: ${rollout}"
    printf '{"stage":"existing-device-plugin","resourceName":%s,"sharesPerGpu":%d,"gpuAllocatable":%s,"short":{}}\n' \
        "$(json_str "$resource")" "$shares" "$(allocatable_json "$nodes_seen")"
    exit 0
fi

# --- at the deadline: which nodes are short, and why (bounded by what is left of the deadline) ------
if [ "$api_ok" != true ]; then
    # Nothing can be verified without the API server: a hard failure, as before any node was seen.
    fail "the API server did not answer the device plugin wait's last poll (deadline ${timeout_s}s)" \
        "${last_error:-kubectl failed}${rollout:+; daemonset ${ds}: ${rollout}}" \
        "check gpu-minikube:cluster.kubeconfig and cluster.context ('kubectl --kubeconfig <file> get nodes' must work from this machine), then run 'pulumi up' again"
fi
if [ "$ds_ok" != true ]; then
    # The plugin is not there at all: no node can get GPUs from it.
    fail "the device plugin DaemonSet ${PLUGIN_NAMESPACE}/${ds} cannot be read" "${rollout}" \
        "this program creates it in devicePlugin.mode manifest: check that the kubeconfig's user may create and read DaemonSets in ${PLUGIN_NAMESPACE}, then run 'pulumi up' again"
fi
pods_ok=true
pods=$(kube -n "$PLUGIN_NAMESPACE" get pods -l "name=${ds}" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\t"}{.metadata.name}{"\t"}{.status.phase}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.reason}{.state.terminated.reason}{" restarts="}{.restartCount}{end}{"\n"}{end}' 2>&1) || {
    pods_ok=false
    pods="$(kubectl_error "$pods")"
}
declare -A pod_on=()
if [ "$pods_ok" = true ]; then
    while IFS=$'\t' read -r node name phase detail; do
        [ -n "$name" ] || continue
        pod_on["${node:-none}"]="${name}: ${phase}${detail:+, ${detail# }}"
    done <<<"$pods"
fi
short="" short_json="" short_count=0 total=0
first_pod=""
{
    printf '[%s] at the deadline:\n' "$GM_STAGE"
    printf '  daemonset %s/%s: %s\n' "$PLUGIN_NAMESPACE" "$ds" "${rollout:-unknown}"
    printf '  nodes matching %s (allocatable %s; expected; plugin pod):\n' "$GM_NODE_SELECTOR" "$resource"
} >&2
while IFS=$'\037' read -r node alloc _ count node_ready; do
    [ -n "$node" ] || continue
    total=$((total + 1))
    if [ "$pods_ok" = true ]; then
        state="${pod_on[$node]:-no plugin pod on this node}"
        if [ -n "${pod_on[$node]:-}" ]; then state="plugin pod ${state}"; fi
    else
        state="plugin pod unknown (${pods})"
    fi
    # A node that is not Ready cannot run the plugin: say so next to it.
    not_ready=""
    if [ "$node_ready" != "True" ]; then not_ready="node not Ready (${node_ready:-no Ready condition}); "; fi
    printf '  | %s: %s; expected %s; %s%s\n' "$node" "${alloc:-none}" "$(want_for "$count")" "${not_ready}" "$state" >&2
    if ! node_ok "$alloc" "$count"; then
        short_count=$((short_count + 1))
        why="${not_ready}advertises ${alloc:-no} ${resource}, expected $(want_for "$count"), after ${timeout_s}s; ${state}"
        short+="${short:+, }${node} (${why})"
        short_json+="${short_json:+,}$(json_str "$node"):$(json_str "$why")"
        if [ -z "$first_pod" ] && [ -n "${pod_on[$node]:-}" ]; then first_pod="${pod_on[$node]%%:*}"; fi
    fi
done <<<"$(printf '%s' "$nodes_seen" | tr '\t' '\037')"
if [ -n "$first_pod" ]; then
    {
        printf '  last log lines of %s:\n' "$first_pod"
        tail_lines 20 "$(kube -n "$PLUGIN_NAMESPACE" logs "$first_pod" --tail=20 2>&1 || true)"
    } >&2
fi
if [ "$short_count" -eq 0 ]; then
    # Every node advertises, yet the rollout is not done (e.g. an old pod that does not go away): no
    # node to pin it on, so this stays a failure of the step.
    fail "the device plugin DaemonSet ${ds} did not finish rolling out within ${timeout_s}s" "${rollout}" \
        "check the plugin pods ('kubectl -n ${PLUGIN_NAMESPACE} get pods -l name=${ds} -o wide') and their events, then run 'pulumi up' again"
fi
# Per-node problems do not fail the step: the nodes that advertise are verified, and each short node
# gets its own failing verdict (components/nodeVerdict.ts) from the "short" map below.
log "${short_count} of ${total} node(s) matching ${GM_NODE_SELECTOR} did not advertise ${resource} within ${timeout_s}s: ${short}. Each gets a failing verdict; fix: check the plugin pods ('kubectl -n ${PLUGIN_NAMESPACE} get pods -l name=${ds} -o wide') and their logs: a node without a working NVIDIA driver and container toolkit makes the plugin crash-loop (FAIL_ON_INIT_ERROR=true); a node that already runs another device plugin (e.g. the GPU Operator's) needs devicePlugin.mode none instead; a node that is not Ready must be repaired or left out with gpu-minikube:verification.nodeSelector; a slow image pull needs a larger devicePlugin.timeoutSeconds"
printf '{"stage":"existing-device-plugin","resourceName":%s,"sharesPerGpu":%d,"gpuAllocatable":%s,"short":{%s}}\n' \
    "$(json_str "$resource")" "$shares" "$(allocatable_json "$nodes_seen")" "$short_json"
