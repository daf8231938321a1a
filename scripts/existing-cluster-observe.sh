#!/usr/bin/env bash
# Observes an existing cluster, read-only (kubectl get only; nothing on this machine changes); runs
# on every `pulumi preview` and `pulumi up` so the program sees the cluster as it is now.
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NODE_SELECTOR (optional
#   "key=value,…" from verification.nodeSelector).
# Output (last stdout line):
#   {"stage":"existing-cluster-observe","clusterUid":"<kube-system namespace uid>","incompleteRuns":"<ids>","nodes":"<rows>",
#    "devicePlugins":"<rows>","devicePluginsError":"<kubectl's error>"|null}
#   incompleteRuns: verify-gpu-nodes.sh runs (comma-separated) that left a node failed, stuck or timed out.
#   devicePlugins: one row per DaemonSet (any namespace, ours included) running NVIDIA's device plugin image
#   (k8s-device-plugin) or GKE's (nvidia-gpu-device-plugin): "<namespace>/<name>\t<images>\t<nodes of its
#   pods, space-separated; ? when they could not be listed>"; components/foreignDevicePlugin.ts reads them.
#   devicePluginsError: why DaemonSets could not be listed (e.g. Forbidden), else null.
#   nodes: the GPU_NODE_JSONPATH rows (scripts/lib/gpu-nodes.sh) of every node the selector matches;
#   components/gpuNodes.ts decides which of them are GPU nodes.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/gpu-nodes.sh
source "$(dirname "$0")/lib/gpu-nodes.sh"
GM_STAGE="existing-cluster-observe"

require_node_selector
set_poll_deadlines 30
private_tmpdir
kubeconfig_from_env
require_kubectl

rc=0
# The kube-system namespace lives as long as the cluster: its uid tells one cluster incarnation from
# the next (a cluster rebuilt under the same name and server gets a new one).
uid=$(kube get namespace kube-system -o jsonpath='{.metadata.uid}' 2>"$GM_TMP/uid.err") || rc=$?
if [ "$rc" -ne 0 ] || [ -z "$uid" ]; then
    fail "cannot reach the cluster's API server" "$(meaningful_error "$GM_TMP/uid.err")" \
        "check gpu-minikube:cluster.kubeconfig and cluster.context: 'kubectl --kubeconfig <file> get namespace kube-system' must work from this machine"
fi
rows=$(list_gpu_node_rows)
# Runs of ours that did not finish every node (failed, stuck or timed out): a new one makes the next
# `up` verify again, so a transient failure is retried instead of recorded forever.
incomplete=$(kube get namespaces -l app.kubernetes.io/managed-by=gpu-minikube \
    -o jsonpath='{range .items[*]}{.metadata.annotations.gpu-minikube/last-run}{"\n"}{end}' 2>/dev/null | grep -E '^r[0-9a-f]+-incomplete$' | paste -sd, -) || incomplete=""

# is_device_plugin_image IMAGES — true when one of the space-separated image references is NVIDIA's
# device plugin (nvcr.io/nvidia/k8s-device-plugin, mirrors of it such as mcr.microsoft.com/oss/nvidia/
# k8s-device-plugin) or GKE's (…/nvidia-gpu-device-plugin): the repository's last path part decides.
is_device_plugin_image() {
    local image repo
    for image in $1; do
        repo="${image%%@*}"
        repo="${repo##*/}"
        repo="${repo%%:*}"
        case "$repo" in k8s-device-plugin | nvidia-gpu-device-plugin) return 0 ;; esac
    done
    return 1
}

# Device plugins already in the cluster: a second one on the same nodes registers the same resource
# with their kubelets, which keep only the last registration.
DS_JSONPATH='{range .items[*]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{range .spec.template.spec.containers[*]}{.image}{" "}{end}{range .spec.template.spec.initContainers[*]}{.image}{" "}{end}{"\n"}{end}'
plugins=""
plugins_error=""
rc=0
daemonsets=$(kube get daemonsets --all-namespaces -o jsonpath="$DS_JSONPATH" 2>"$GM_TMP/ds.err") || rc=$?
if [ "$rc" -ne 0 ]; then
    plugins_error=$(meaningful_error "$GM_TMP/ds.err")
    plugins_error="${plugins_error:-kubectl exited ${rc}}"
    log "WARNING: cannot list DaemonSets to look for a device plugin already running: ${plugins_error}"
else
    while IFS=$'\037' read -r ds_ns ds_name images; do
        [ -n "$ds_name" ] || continue
        is_device_plugin_image "$images" || continue
        # Names from the API server are DNS-1123 names; anything else is not pasted into a filter.
        nodes="?"
        if [[ $ds_name =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; then
            nodes=$(kube -n "$ds_ns" get pods \
                -o jsonpath="{range .items[?(@.metadata.ownerReferences[0].name==\"${ds_name}\")]}{.spec.nodeName}{\" \"}{end}" 2>/dev/null) || nodes="?"
        fi
        images=$(printf '%s' "$images" | sed 's/ *$//')
        nodes=$(printf '%s' "$nodes" | sed 's/ *$//')
        plugins+="${ds_ns}/${ds_name}"$'\t'"${images}"$'\t'"${nodes}"$'\n'
    done <<<"$(printf '%s' "$daemonsets" | tr '\t' '\037')"
fi

log "cluster ${uid}: $(printf '%s' "$rows" | grep -c . || true) node(s)${GM_NODE_SELECTOR:+ matching ${GM_NODE_SELECTOR}}; device plugin DaemonSets: $(printf '%s' "$plugins" | cut -f 1 | paste -sd' ' - | sed 's/^$/none/')"
printf '{"stage":"existing-cluster-observe","clusterUid":%s,"incompleteRuns":%s,"nodes":%s,"devicePlugins":%s,"devicePluginsError":%s}\n' \
    "$(json_str "$uid")" "$(json_str "$incomplete")" "$(json_str "$rows")" "$(json_str "$plugins")" "$(json_str_or_null "$plugins_error")"
