#!/usr/bin/env bash
# Observes an existing cluster, read-only (kubectl get only; nothing on this machine changes); runs
# on every `pulumi preview` and `pulumi up` so the program sees the cluster as it is now.
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NODE_SELECTOR (optional
#   "key=value,…" from verification.nodeSelector).
# Output (last stdout line):
#   {"stage":"existing-cluster-observe","clusterUid":"<kube-system namespace uid>","incompleteRuns":"<ids>","nodes":"<rows>"}
#   incompleteRuns: verify-gpu-nodes.sh runs (comma-separated) that left a node failed, stuck or timed out.
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
log "cluster ${uid}: $(printf '%s' "$rows" | grep -c . || true) node(s)${GM_NODE_SELECTOR:+ matching ${GM_NODE_SELECTOR}}"
printf '{"stage":"existing-cluster-observe","clusterUid":%s,"incompleteRuns":%s,"nodes":%s}\n' "$(json_str "$uid")" "$(json_str "$incomplete")" "$(json_str "$rows")"
