#!/usr/bin/env bash
# Node facts for existing clusters, shared by existing-cluster-observe.sh and verify-gpu-nodes.sh.
# Sourced after common.sh. One `kubectl get nodes` lists every node's facts, whatever the node count.

# One tab-separated row per node; components/gpuNodes.ts (NODE_FACT_COLUMNS) reads the same columns:
# name, uid, allocatable and capacity of nvidia.com/gpu and nvidia.com/gpu.shared, the
# nvidia.com/gpu.present label, spec.unschedulable, the Ready condition, the kubernetes.io/hostname
# label, and the GPU Feature Discovery labels for the product and the driver version.
# shellcheck disable=SC2034 # used by the scripts that source this file
GPU_NODE_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.metadata.uid}{"\t"}{.status.allocatable.nvidia\.com/gpu}{"\t"}{.status.allocatable.nvidia\.com/gpu\.shared}{"\t"}{.status.capacity.nvidia\.com/gpu}{"\t"}{.status.capacity.nvidia\.com/gpu\.shared}{"\t"}{.metadata.labels.nvidia\.com/gpu\.present}{"\t"}{.spec.unschedulable}{"\t"}{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\t"}{.metadata.labels.kubernetes\.io/hostname}{"\t"}{.metadata.labels.nvidia\.com/gpu\.product}{"\t"}{.metadata.labels.nvidia\.com/cuda\.driver-version\.full}{"\t"}{.metadata.labels.nvidia\.com/cuda\.driver\.major}{"\t"}{.metadata.labels.nvidia\.com/cuda\.driver\.minor}{"\t"}{.metadata.labels.nvidia\.com/cuda\.driver\.rev}{"\n"}{end}'

# require_node_selector — GM_NODE_SELECTOR must be empty or a kubectl equality selector
# "key=value[,key=value...]" of label keys and values (the same rule as verification.nodeSelector).
require_node_selector() {
    GM_NODE_SELECTOR="${GM_NODE_SELECTOR:-}"
    local pair='([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?'
    require_match GM_NODE_SELECTOR "^(${pair}(,${pair})*)?\$" "empty or label=value pairs separated by ','"
}

# meaningful_error FILE — the line of kubectl's stderr worth quoting: the last one that is not a
# klog line (kubectl prints "E1130 12:00:00.000 … memcache.go" lines before the real error).
meaningful_error() {
    local line
    line=$(grep -v -E '^[IWEF][0-9]{4} [0-9:.]+ +[0-9]+ [a-z_.]+:[0-9]+\]' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1) || true
    if [ -z "$line" ]; then line=$(sed '/^[[:space:]]*$/d' "$1" | tail -n 1); fi
    printf '%s' "$line"
}

# list_gpu_node_rows — prints GPU_NODE_JSONPATH rows of the nodes matching GM_NODE_SELECTOR; fails
# with the API server's own error when it cannot list them.
list_gpu_node_rows() {
    local rc=0 out
    local -a selector=()
    if [ -n "$GM_NODE_SELECTOR" ]; then selector=(-l "$GM_NODE_SELECTOR"); fi
    out=$(kube get nodes "${selector[@]}" -o jsonpath="$GPU_NODE_JSONPATH" 2>"$GM_TMP/nodes.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "cannot list the cluster's nodes" "$(meaningful_error "$GM_TMP/nodes.err")" \
            "check gpu-minikube:cluster.kubeconfig and cluster.context ('kubectl --kubeconfig <file> get nodes' must work from this machine, and the user needs 'list nodes')"
    fi
    printf '%s' "$out"
}
