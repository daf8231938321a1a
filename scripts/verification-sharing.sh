#!/usr/bin/env bash
# GPU sharing evidence: a snapshot of every pod of the sharing verification Job (run after the Job was
# awaited): its phase and node, its container's start and finish times as the kubelet recorded them,
# its log (the GPU UUID it saw), and the scheduler's reason for every pod that was ever Pending
# (its PodScheduled condition now, and FailedScheduling events from before). The verdict
# (components/sharingVerdict.ts) decides from these times whether the pods really ran at once.
# Read-only: changes nothing in the cluster.
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NAMESPACE, GM_JOB_NAME,
#   GM_JOB_UID (optional: the uid of the Job Pulumi created; another Job of that name is an error),
#   GM_TIMEOUT_SECONDS (deadline for the whole snapshot).
# Only pods the Job owns count (ownerReferences uid): the job-name label alone also matches a pod of an
# earlier Job of the same name that is still terminating, or any pod someone labelled so.
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
GM_JOB_UID="${GM_JOB_UID:-}"
[ -z "$GM_JOB_UID" ] || require_match GM_JOB_UID '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "a Kubernetes object uid"
ns="$GM_NAMESPACE"
job="$GM_JOB_NAME"
set_poll_deadlines "$((10#$GM_TIMEOUT_SECONDS))"

private_tmpdir
kubeconfig_from_env
require_kubectl

rc=0
job_uid=$(kube -n "$ns" get job "$job" -o jsonpath='{.metadata.uid}' 2>"$GM_TMP/job.err") || rc=$?
if [ "$rc" -ne 0 ]; then
    job_error=$(first_line "$(cat "$GM_TMP/job.err")")
    if [[ $job_error == *NotFound* || $job_error == *"not found"* ]]; then
        fail "Job ${ns}/${job} does not exist" "$job_error" \
            "it was deleted outside Pulumi: run 'pulumi up --refresh' (Pulumi creates it again and the check re-runs)"
    fi
    fail "could not read Job ${ns}/${job}" "kubectl exited ${rc}: ${job_error}" \
        "check the API server ('kubectl get --raw /readyz') and run 'pulumi up' again"
fi
if [ -n "$GM_JOB_UID" ] && [ "$job_uid" != "$GM_JOB_UID" ]; then
    fail "Job ${ns}/${job} is not the one Pulumi created" "uid ${job_uid}, Pulumi created ${GM_JOB_UID}" \
        "it was replaced outside Pulumi: run 'pulumi up --refresh'"
fi

# One line per pod: name, phase, node, container start, container finish, PodScheduled (status|reason|message),
# owner uid (dropped once the pod is known to be the Job's).
POD_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.spec.nodeName}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.startedAt}{.state.running.startedAt}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.finishedAt}{end}{"\t"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{"|"}{.reason}{"|"}{.message}{end}{"\t"}{.metadata.ownerReferences[?(@.kind=="Job")].uid}{"\n"}{end}'
labelled=$(kube -n "$ns" get pods -l "job-name=${job}" -o jsonpath="$POD_JSONPATH" 2>"$GM_TMP/pods.err") || rc=$?
if [ "$rc" -ne 0 ]; then
    fail "could not list the pods of Job ${ns}/${job}" "kubectl exited ${rc}: $(first_line "$(cat "$GM_TMP/pods.err")")" \
        "check the API server ('kubectl get --raw /readyz') and run 'pulumi up' again"
fi
pods=$(printf '%s\n' "$labelled" | awk -F'\t' -v uid="$job_uid" '$1 != "" && $NF == uid { sub(/\t[^\t]*$/, ""); print }')
others=$(printf '%s\n' "$labelled" | awk -F'\t' -v uid="$job_uid" '$1 != "" && $NF != uid { printf "%s%s", sep, $1; sep = ", " }')
[ -z "$others" ] || log "not counted (label job-name=${job}, but not owned by Job uid ${job_uid}): ${others}"
if [ -z "$(printf '%s' "$pods" | tr -d '[:space:]')" ]; then
    fail "Job ${ns}/${job} has no pods" "no pod owned by Job uid ${job_uid:-?} (label job-name=${job})" \
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
