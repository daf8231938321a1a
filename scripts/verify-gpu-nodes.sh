#!/usr/bin/env bash
# Verifies every GPU node of an existing cluster: one Job per node, pinned to it, at most
# GM_PARALLELISM at a time, all of them watched through ONE list of Jobs and ONE list of pods per
# poll (the API cost of a poll does not grow with the node count). Records a verdict per node and
# exits 0 even when nodes fail: the per-node outcome is the result (components/nodeVerdict.ts turns
# it into reasons). Exits non-zero only when it cannot work at all (bad input, API unreachable).
#
# Per node: cordoned, not Ready, or fewer allocatable GPUs than GM_GPUS -> "skipped" (no Job);
#   Job Complete -> "complete" with the pod's whole log; Job Failed -> "failed" with the reason,
#   exit code and last log lines; pod stuck (Unschedulable, ErrImagePull, ImagePullBackOff,
#   InvalidImageName, CreateContainerConfigError) for GM_STUCK_SECONDS -> "stuck", and its Job is
#   deleted so it does not keep a GPU; deadline -> "timeout" (Job deleted); node gone -> "absent".
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NAMESPACE, GM_NODES (node names
#   separated by spaces: the GPU nodes the program planned for), GM_NODE_SELECTOR (optional),
#   GM_JOB_TEMPLATE (the Job as one line of JSON with the @@GM_…@@ placeholders of
#   components/nodeJob.ts), GM_GPUS, GM_PARALLELISM, GM_TIMEOUT_SECONDS; optional GM_POLL_SECONDS
#   (default 2, at most 2) and GM_STUCK_SECONDS (default 15).
# Output (last stdout line):
#   {"stage":"verification-nodes","run":"<id>","finishedAt":…,"facts":"<node rows>","nodes":[{"node":…,"outcome":…,
#    "detail":…,"verifiedAt":…,"log":…},…]}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/gpu-nodes.sh
source "$(dirname "$0")/lib/gpu-nodes.sh"
GM_STAGE="verification"

require_env GM_NAMESPACE GM_NODES GM_JOB_TEMPLATE
require_match GM_NAMESPACE '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' "a Kubernetes namespace name (DNS-1123 label)"
require_match GM_NODES '^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?( |$))*$' "node names (DNS-1123 subdomains) separated by single spaces"
require_node_selector
require_match GM_JOB_TEMPLATE '^\{[^'$'\n'']*@@GM_NODE@@[^'$'\n'']*\}$' "the one-line JSON Job template of components/nodeJob.ts"
require_uint GM_GPUS 1 64
require_uint GM_PARALLELISM 1 256
require_uint GM_TIMEOUT_SECONDS 1 86400
require_poll_seconds
GM_STUCK_SECONDS="${GM_STUCK_SECONDS:-15}"
require_uint GM_STUCK_SECONDS 0 3600
ns="$GM_NAMESPACE"
gpus=$((10#$GM_GPUS))
parallelism=$((10#$GM_PARALLELISM))
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
stuck_s=$((10#$GM_STUCK_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env
require_kubectl

# A fresh id per run: Job names never collide with a previous run's, whatever state it left.
run="r$(od -An -N4 -tx4 /dev/urandom | tr -cd '0-9a-f')"
now_iso() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# --- plan: the planned nodes as the API server describes them now ---------------------------------
facts=$(list_gpu_node_rows)
declare -A row_of=()
while IFS= read -r line; do
    [ -n "$line" ] || continue
    row_of["${line%%$'\037'*}"]="$line"
done <<<"$(printf '%s' "$facts" | tr '\t' '\037')"

declare -a order=()
declare -A outcome=() detail=() verified_at=() job_of=() hostname_of=() resource_of=()
declare -a queue=()
for node in $GM_NODES; do
    order+=("$node")
    if [ -z "${row_of[$node]+x}" ]; then
        outcome[$node]="absent"; detail[$node]="not in the node list"; verified_at[$node]=$(now_iso)
        continue
    fi
    IFS=$'\037' read -r _ _ alloc_gpu alloc_shared _ _ _ unsched ready host _ <<<"${row_of[$node]}"
    resource="nvidia.com/gpu" alloc="${alloc_gpu:-0}"
    if [ "${alloc_gpu:-0}" = "0" ] && [[ ${alloc_shared:-0} =~ ^[0-9]+$ ]] && [ "${alloc_shared:-0}" -gt 0 ]; then
        resource="nvidia.com/gpu.shared" alloc="$alloc_shared"
    fi
    [[ $alloc =~ ^[0-9]+$ ]] || alloc=0
    if [ "$unsched" = "true" ] || [ "$ready" != "True" ] || [ "$alloc" -lt "$gpus" ]; then
        outcome[$node]="skipped"; detail[$node]="unschedulable=${unsched:-false} ready=${ready:-absent} allocatable=${alloc}"
        verified_at[$node]=$(now_iso)
        continue
    fi
    # The hostname label is validated like the node name before it goes into a manifest.
    if ! [[ $host =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]]; then host="$node"; fi
    hostname_of[$node]="$host"
    resource_of[$node]="$resource"
    queue+=("$node")
done
log "run ${run}: ${#order[@]} GPU node(s), ${#queue[@]} fit to verify, at most ${parallelism} at a time, in namespace ${ns}"

# Jobs of earlier runs are ours and finished with; delete them in the background (their pods too).
kube -n "$ns" delete jobs -l "app.kubernetes.io/managed-by=gpu-minikube,gpu-minikube/run!=${run}" \
    --cascade=background --wait=false --ignore-not-found >/dev/null 2>&1 || true

# record NODE OUTCOME DETAIL — the node's final outcome.
record() {
    outcome[$1]="$2"; detail[$1]="$3"; verified_at[$1]=$(now_iso)
}

# delete_job JOB — removes one of our Jobs and its pod, so a stuck pod frees its GPU now.
delete_job() {
    kube -n "$ns" delete job "$1" --cascade=background --wait=false --ignore-not-found >/dev/null 2>&1 || true
}

# start_batch N — creates the Jobs of the next N queued nodes with one kubectl call.
next_index=0
declare -A active=()
start_batch() {
    local n="$1" items="" node job manifest rc=0 err=""
    local -a started=()
    while [ "$n" -gt 0 ] && [ "${#queue[@]}" -gt 0 ]; do
        node="${queue[0]}"
        queue=("${queue[@]:1}")
        job="gpu-verify-${run}-${next_index}"
        next_index=$((next_index + 1))
        manifest="${GM_JOB_TEMPLATE//@@GM_JOB@@/$job}"
        manifest="${manifest//@@GM_NODE@@/$node}"
        manifest="${manifest//@@GM_HOSTNAME@@/${hostname_of[$node]}}"
        manifest="${manifest//@@GM_RESOURCE@@/${resource_of[$node]}}"
        manifest="${manifest//@@GM_RUN@@/$run}"
        items+="${items:+,}${manifest}"
        job_of[$node]="$job"
        started+=("$node")
        n=$((n - 1))
    done
    [ "${#started[@]}" -gt 0 ] || return 0
    printf '{"apiVersion":"v1","kind":"List","items":[%s]}' "$items" >"$GM_TMP/batch.json"
    kube -n "$ns" create -f "$GM_TMP/batch.json" -o name >"$GM_TMP/created" 2>"$GM_TMP/create.err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        err=$(meaningful_error "$GM_TMP/create.err")
        log "creating ${#started[@]} Job(s) failed: ${err}"
    fi
    # kubectl creates a List object by object and prints job.batch/<name> for each one it created.
    for node in "${started[@]}"; do
        if grep -Fx "job.batch/${job_of[$node]}" "$GM_TMP/created" >/dev/null; then
            active[$node]=1
        else
            record "$node" failed "the Job could not be created: ${err:-kubectl printed no error}"
        fi
    done
}

# fetch_log NODE POD — reads POD's whole log in the background, at most LOG_FETCHERS at once, so 50
# logs do not cost 50 kubectl round trips one after another; settle_logs collects the results.
LOG_FETCHERS=8
declare -a fetch_pids=()
declare -A log_pending=()
fetch_log() {
    local node="$1" pod="$2" file="$GM_TMP/log.${job_of[$1]}"
    log_file[$node]="$file"
    log_pending[$node]="$pod"
    if [ "${#fetch_pids[@]}" -ge "$LOG_FETCHERS" ]; then
        wait "${fetch_pids[0]}" || true
        fetch_pids=("${fetch_pids[@]:1}")
    fi
    if [ -z "$pod" ]; then
        printf '1' >"$file.rc"
        printf 'no pod of the Job is left' >"$file.err"
        return 0
    fi
    (
        rc=0
        kube -n "$ns" logs "$pod" >"$file" 2>"$file.err" || rc=$?
        printf '%s' "$rc" >"$file.rc"
    ) &
    fetch_pids+=("$!")
}

# settle_logs — waits for every log read and marks a node whose log could not be read as failed.
settle_logs() {
    local node rc
    for pid in "${fetch_pids[@]}"; do wait "$pid" || true; done
    fetch_pids=()
    for node in "${!log_pending[@]}"; do
        rc=$(cat "${log_file[$node]}.rc" 2>/dev/null || printf '1')
        if [ "$rc" != 0 ]; then
            outcome[$node]="failed"
            detail[$node]="the Job completed but the log of pod ${log_pending[$node]} could not be read: $(meaningful_error "${log_file[$node]}.err")"
        fi
    done
}

JOBS_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{range .status.conditions[?(@.status=="True")]}{.type}{","}{end}{"\t"}{range .status.conditions[?(@.type=="Failed")]}{.reason}{": "}{.message}{end}{"\n"}{end}'
# name, job, phase, node, waiting/terminated reason, its message, exit code, PodScheduled status|reason|message
PODS_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.metadata.labels.job-name}{"\t"}{.status.phase}{"\t"}{.spec.nodeName}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.reason}{.state.terminated.reason}{end}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.message}{.state.terminated.message}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.exitCode}{end}{"\t"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{"|"}{.reason}{"|"}{.message}{end}{"\n"}{end}'

declare -A stuck_since=() log_file=()
poll=0
while true; do
    free=$((parallelism - ${#active[@]}))
    if [ "$free" -gt 0 ] && [ "${#queue[@]}" -gt 0 ]; then start_batch "$free"; fi
    if [ "${#active[@]}" -eq 0 ] && [ "${#queue[@]}" -eq 0 ]; then break; fi
    poll=$((poll + 1))
    now=$(date +%s)
    jobs_out=$(kube -n "$ns" get jobs -l "gpu-minikube/run=${run}" -o jsonpath="$JOBS_JSONPATH" 2>"$GM_TMP/jobs.err") || jobs_out=""
    # Tabs are whitespace to `read` (empty fields would collapse): one tr turns them into \037.
    pods_out=$(kube -n "$ns" get pods -l "gpu-minikube/run=${run}" -o jsonpath="$PODS_JSONPATH" 2>/dev/null | tr '\t' '\037') || pods_out=""
    declare -A conds=() failure=() pod_row=()
    while IFS=$'\t' read -r jname jconds jfail; do
        [ -n "$jname" ] || continue
        conds[$jname]="$jconds"; failure[$jname]="$jfail"
    done <<<"$jobs_out"
    while IFS= read -r prow; do
        [ -n "$prow" ] || continue
        IFS=$'\037' read -r _ pjob pphase _ <<<"$prow"
        # backoffLimit 0: one pod per Job; should there be more, a Succeeded one wins.
        if [ -z "${pod_row[$pjob]+x}" ] || [ "$pphase" = "Succeeded" ]; then pod_row[$pjob]="$prow"; fi
    done <<<"$pods_out"

    for node in "${!active[@]}"; do
        job="${job_of[$node]}"
        pod="" reason="" message="" exit_code="" scheduled=""
        if [ -n "${pod_row[$job]+x}" ]; then
            IFS=$'\037' read -r pod _ _ _ reason message exit_code scheduled <<<"${pod_row[$job]}" || true
        fi
        c="${conds[$job]-}"
        if [[ $c == *Complete,* || $c == *SuccessCriteriaMet,* ]]; then
            # Provisionally complete: settle_logs turns it into "failed" if the log cannot be read.
            record "$node" complete ""
            fetch_log "$node" "$pod"
            unset "active[$node]"
            continue
        fi
        if [[ $c == *Failed,* || $c == *FailureTarget,* ]]; then
            log_file[$node]="$GM_TMP/log.${job}"
            if [ -n "$pod" ]; then kube -n "$ns" logs "$pod" --tail=20 >"${log_file[$node]}" 2>/dev/null || true; fi
            record "$node" failed "${failure[$job]:-Failed}${reason:+; pod ${pod}: ${reason}}${exit_code:+ (exit ${exit_code})}${message:+: ${message}}"
            unset "active[$node]"
            continue
        fi
        current=""
        case "$reason" in
            ErrImagePull | ImagePullBackOff | InvalidImageName | CreateContainerConfigError) current="$reason: ${message:-no message}" ;;
        esac
        if [ -z "$current" ] && [[ $scheduled == False\|Unschedulable* ]]; then current="Unschedulable: ${scheduled#False|Unschedulable|}"; fi
        if [ -n "$current" ]; then
            if [ -z "${stuck_since[$node]+x}" ]; then stuck_since[$node]=$now; fi
            if [ $((now - stuck_since[$node])) -ge "$stuck_s" ]; then
                record "$node" stuck "pod ${pod} ${current} (for $((now - stuck_since[$node]))s; the Job was deleted so it holds no GPU)"
                delete_job "$job"
                unset "active[$node]"
            fi
        else
            unset "stuck_since[$node]"
        fi
    done
    unset conds failure pod_row

    done_count=0
    for node in "${order[@]}"; do [ -n "${outcome[$node]+x}" ] && done_count=$((done_count + 1)); done
    log "poll ${poll} ($((now - start_s))s of ${timeout_s}s): ${done_count}/${#order[@]} node(s) done, ${#active[@]} running, ${#queue[@]} queued"
    if [ "${#active[@]}" -eq 0 ] && [ "${#queue[@]}" -eq 0 ]; then break; fi
    if [ "$now" -ge "$poll_deadline" ]; then
        for node in "${!active[@]}"; do
            record "$node" timeout "Job ${job_of[$node]} was still running after ${timeout_s}s (deleted); raise gpu-minikube:verification.timeoutSeconds if its image is large"
            delete_job "${job_of[$node]}"
        done
        for node in "${queue[@]}"; do
            record "$node" timeout "never started within ${timeout_s}s: the nodes before it took the time (raise verification.parallelism or verification.timeoutSeconds)"
        done
        break
    fi
    sleep "$GM_POLL_SECONDS"
done

settle_logs

# --- summary ------------------------------------------------------------------------------------
items=""
passed_like=0
for node in "${order[@]}"; do
    text=""
    if [ -n "${log_file[$node]+x}" ] && [ -r "${log_file[$node]}" ]; then
        text=$(cat "${log_file[$node]}" && printf x)
        text="${text%x}"
    fi
    [ "${outcome[$node]}" = "complete" ] && passed_like=$((passed_like + 1))
    items+="${items:+,}{\"node\":$(json_str "$node"),\"outcome\":\"${outcome[$node]}\",\"detail\":$(json_str "${detail[$node]}"),\"verifiedAt\":\"${verified_at[$node]}\",\"log\":$(json_str "$text")}"
done
log "run ${run}: ${passed_like}/${#order[@]} node(s) ran the check to completion"
# Marks the namespace with how this run ended: existing-cluster-observe.sh turns an incomplete run
# (a node failed, stuck or timed out: possibly transient) into a re-run on the next `up`.
run_state=complete
for node in "${order[@]}"; do
    case "${outcome[$node]}" in failed | stuck | timeout) run_state=incomplete ;; esac
done
kube annotate namespace "$ns" "gpu-minikube/last-run=${run}-${run_state}" --overwrite >/dev/null 2>&1 ||
    log "could not annotate namespace ${ns} (the next up re-verifies only when the nodes change)"
printf '{"stage":"verification-nodes","run":"%s","finishedAt":"%s","facts":%s,"nodes":[%s]}\n' "$run" "$(now_iso)" "$(json_str "$facts")" "$items"
