#!/usr/bin/env bash
# GPU sharing evidence: a snapshot of every pod of the sharing verification Job (run after the Job was
# awaited): its phase and node, its container's start and finish times as the kubelet recorded them,
# its log (the GPU UUID it saw), and the scheduler's reason for every pod that was ever Pending
# (its PodScheduled condition now, and FailedScheduling events from before). The verdict
# (components/sharingVerdict.ts) decides from these times whether the pods really ran at once.
# Read-only: changes nothing in the cluster.
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NAMESPACE, GM_JOB_NAME,
#   GM_TIMEOUT_SECONDS (deadline for the whole snapshot).
# Output (last stdout line):
#   {"stage":"verification-sharing","jobName":…,"pods":[{"name":…,"phase":…,"node":…|null,
#    "startedAt":…|null,"finishedAt":…|null,"unschedulable":…|null,"log":…}],"failedScheduling":[{"pod":…,"message":…}]}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification-sharing"

require_env GM_NAMESPACE GM_JOB_NAME
require_match GM_NAMESPACE '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' "a Kubernetes namespace name (DNS-1123 label)"
require_match GM_JOB_NAME '^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$' "a Kubernetes Job name of at most 63 lowercase letters, digits, '-' and '.'"
require_uint GM_TIMEOUT_SECONDS 1 86400
ns="$GM_NAMESPACE"
job="$GM_JOB_NAME"
set_poll_deadlines "$((10#$GM_TIMEOUT_SECONDS))"

private_tmpdir
kubeconfig_from_env
require_kubectl

# One line per pod: name, phase, node, container start, container finish, PodScheduled (status|reason|message).
POD_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.spec.nodeName}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.startedAt}{.state.running.startedAt}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.finishedAt}{end}{"\t"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{"|"}{.reason}{"|"}{.message}{end}{"\n"}{end}'
rc=0
pods=$(kube -n "$ns" get pods -l "job-name=${job}" -o jsonpath="$POD_JSONPATH" 2>"$GM_TMP/pods.err") || rc=$?
if [ "$rc" -ne 0 ]; then
    fail "could not list the pods of Job ${ns}/${job}" "kubectl exited ${rc}: $(first_line "$(cat "$GM_TMP/pods.err")")" \
        "check the API server ('kubectl get --raw /readyz') and run 'pulumi up' again"
fi
if [ -z "$(printf '%s' "$pods" | tr -d '[:space:]')" ]; then
    fail "Job ${ns}/${job} has no pods" "no pod with label job-name=${job}" \
        "run the verification again (change gpu-minikube:verification.runId); check 'kubectl -n ${ns} get pods'"
fi

# The scheduler's earlier verdicts on pods that have since run.
events=$(kube -n "$ns" get events --field-selector reason=FailedScheduling \
    -o jsonpath='{range .items[*]}{.involvedObject.name}{"\t"}{.message}{"\n"}{end}' 2>/dev/null) || events=""

entries=""
count=0
while IFS=$'\037' read -r name phase node started finished scheduled; do
    [ -n "$name" ] || continue
    count=$((count + 1))
    log_text=""
    if [ -n "$started" ]; then
        # The trailing "x" keeps the log's own final newlines, which command substitution would strip.
        log_text=$(kube -n "$ns" logs "$name" 2>/dev/null && printf x) || log_text=""
        log_text="${log_text%x}"
    fi
    unschedulable=""
    if [[ $scheduled == False\|* ]]; then unschedulable="${scheduled#False|}"; unschedulable="${unschedulable#*|}"; fi
    entries+="${entries:+,}{\"name\":$(json_str "$name"),\"phase\":$(json_str "$phase"),\"node\":$(json_str_or_null "$node"),"
    entries+="\"startedAt\":$(json_str_or_null "$started"),\"finishedAt\":$(json_str_or_null "$finished"),"
    entries+="\"unschedulable\":$(json_str_or_null "$unschedulable"),\"log\":$(json_str "$log_text")}"
done <<<"$(printf '%s' "$pods" | tr '\t' '\037')"

pod_names=" $(printf '%s\n' "$pods" | cut -f 1 | paste -sd' ' -) "
failed=""
while IFS=$'\037' read -r pod message; do
    [ -n "$pod" ] || continue
    [[ $pod_names == *" $pod "* ]] || continue
    failed+="${failed:+,}{\"pod\":$(json_str "$pod"),\"message\":$(json_str "$message")}"
done <<<"$(printf '%s' "$events" | tr '\t' '\037')"

log "Job ${ns}/${job}: ${count} pod(s); $(printf '%s\n' "$pods" | awk -F'\t' '$1 != "" { printf "%s%s %s (%s .. %s)", sep, $1, $2, ($4 == "" ? "-" : $4), ($5 == "" ? "-" : $5); sep = ", " }')"
printf '{"stage":"verification-sharing","jobName":%s,"pods":[%s],"failedScheduling":[%s]}\n' "$(json_str "$job")" "$entries" "$failed"
