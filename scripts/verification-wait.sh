#!/usr/bin/env bash
# Waits for the GPU verification Job (created by Pulumi with skipAwait) and captures its pod's log.
#   Complete                                       -> summary with the whole log (nvidia-smi + CSV query)
#   Failed, or its pod stuck in ErrImagePull / ImagePullBackOff / InvalidImageName /
#   CreateContainerConfigError or Unschedulable (e.g. "Insufficient nvidia.com/gpu") for
#   GM_STUCK_SECONDS                               -> fails fast with the pod's reason and message, the
#                                                     pod's and the Job's events, and the fix
#   deadline                                       -> fails with the same diagnostics
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NAMESPACE, GM_JOB_NAME,
#   GM_TIMEOUT_SECONDS; optional GM_POLL_SECONDS (default 2, at most 2; fractions allowed) and
#   GM_STUCK_SECONDS (default 15).
# Output (last stdout line):
#   {"stage":"verification","jobName":…,"succeeded":true,"pod":…,"node":…,"log":"<whole pod log>"}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification"

require_env GM_NAMESPACE GM_JOB_NAME
require_match GM_NAMESPACE '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' "a Kubernetes namespace name (DNS-1123 label)"
# The Job name is also a label value on its pods (job-name=<name>), so at most 63 characters.
require_match GM_JOB_NAME '^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$' "a Kubernetes Job name of at most 63 lowercase letters, digits, '-' and '.'"
require_uint GM_TIMEOUT_SECONDS 1 86400
require_poll_seconds
GM_STUCK_SECONDS="${GM_STUCK_SECONDS:-15}"
require_uint GM_STUCK_SECONDS 0 3600
ns="$GM_NAMESPACE"
job="$GM_JOB_NAME"
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
stuck_s=$((10#$GM_STUCK_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env
if ! command -v kubectl >/dev/null 2>&1; then
    fail "kubectl is not installed" "no kubectl on PATH" \
        "install it (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ or 'sudo snap install kubectl --classic'), then run 'pulumi up' again"
fi

JOB_JSONPATH='{range .status.conditions[*]}{.type}{"="}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}'
# One line per pod: name, phase, node, waiting/terminated reason, its message, exit code,
# PodScheduled condition (status|reason|message), image.
POD_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.spec.nodeName}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.reason}{.state.terminated.reason}{end}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.message}{.state.terminated.message}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.exitCode}{end}{"\t"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{"|"}{.reason}{"|"}{.message}{end}{"\t"}{.spec.containers[0].image}{"\n"}{end}'

pod="" phase="" node="" reason="" message="" exit_code="" scheduled="" image=""
job_conditions=""

# diagnose_and_fail WHAT FOUND FIX — prints the pod's and the Job's state, events and log tail, then fails.
diagnose_and_fail() {
    local what="$1" found="$2" fix="$3" pod_events="" job_events="" pod_log=""
    if [ -n "$pod" ]; then
        pod_events=$(kube -n "$ns" get events --field-selector "involvedObject.name=${pod}" 2>&1) || true
        pod_log=$(kube -n "$ns" logs "$pod" --tail=20 2>&1) || true
    fi
    job_events=$(kube -n "$ns" get events --field-selector "involvedObject.kind=Job,involvedObject.name=${job}" 2>&1) || true
    # kubectl says "No resources found in <ns> namespace." (on stderr) when there are none.
    if [[ $pod_events == "No resources found"* ]]; then pod_events=""; fi
    if [[ $job_events == "No resources found"* ]]; then job_events=""; fi
    {
        printf '[%s] diagnostics for Job %s/%s:\n' "$GM_STAGE" "$ns" "$job"
        printf '  job conditions:\n'
        if [ -n "$job_conditions" ]; then tail_lines 10 "$job_conditions"; else printf '  | (none)\n'; fi
        if [ -n "$pod" ]; then
            printf '  pod %s: phase %s, node %s, reason %s, image %s\n' "$pod" "${phase:-?}" "${node:-none}" "${reason:-none}" "${image:-?}"
            if [ -n "$message" ]; then printf '  | %s\n' "$message"; fi
            if [ -n "$scheduled" ]; then
                printf '%s' "$scheduled" | awk -F'|' '{ printf "  | PodScheduled=%s%s%s\n", $1, ($2 == "" ? "" : " (" $2 ")"), ($3 == "" ? "" : ": " $3) }'
            fi
            printf '  events of pod %s:\n' "$pod"
            if [ -n "$pod_events" ]; then tail_lines 10 "$pod_events"; else printf '  | (none)\n'; fi
            printf '  last log lines of pod %s:\n' "$pod"
            if [ -n "$pod_log" ]; then tail_lines 20 "$pod_log"; else printf '  | (none)\n'; fi
        else
            printf '  no pod of the Job exists (label job-name=%s)\n' "$job"
        fi
        printf '  events of Job %s:\n' "$job"
        if [ -n "$job_events" ]; then tail_lines 10 "$job_events"; else printf '  | (none)\n'; fi
    } >&2
    fail "$what" "$found" "$fix (diagnostics above)"
}

# fix_for REASON — what to do about a pod stuck for REASON.
fix_for() {
    case "$1" in
        ErrImagePull | ImagePullBackOff)
            printf '%s' "the node cannot pull '${image}': check the image name (gpu-minikube:verification.image) and the host's network access to its registry; loading it first also works: 'minikube -p <profile> image load ${image}'" ;;
        InvalidImageName)
            printf '%s' "'${image}' is not a valid image reference: fix gpu-minikube:verification.image" ;;
        CreateContainerConfigError)
            printf '%s' "the pod's container configuration is invalid (see the message): check the Job spec" ;;
        Unschedulable)
            if [[ $scheduled == *nvidia.com/gpu* ]]; then
                printf '%s' "no node has enough free nvidia.com/gpu: check 'kubectl describe node' (allocatable nvidia.com/gpu), set gpu-minikube:verification.gpus to at most that, and make sure no other pod holds the GPU"
            else
                printf '%s' "the scheduler found no node for the pod: see the PodScheduled message and the events"
            fi ;;
        *)
            printf '%s' "see the pod's message and events" ;;
    esac
}

poll=0
stuck_since=""
stuck_reason=""
missing_since=""
outcome=""
while true; do
    poll=$((poll + 1))
    now=$(date +%s)
    rc=0
    job_conditions=$(kube -n "$ns" get job "$job" -o jsonpath="$JOB_JSONPATH" 2>"$GM_TMP/job.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        job_error=$(first_line "$(cat "$GM_TMP/job.err")")
        job_conditions=""
        if [[ $job_error == *NotFound* || $job_error == *"not found"* ]]; then
            if [ -z "$missing_since" ]; then missing_since=$now; fi
            if [ $((now - missing_since)) -ge "$stuck_s" ]; then
                diagnose_and_fail "Job ${ns}/${job} does not exist" "${job_error}" \
                    "run 'pulumi up' again (the program creates the Job before this step); check 'kubectl -n ${ns} get jobs'"
            fi
        fi
        status="the API server did not answer for the Job (${job_error:-kubectl exit ${rc}})"
    else
        missing_since=""
        conds=$(printf '%s\n' "$job_conditions" | cut -f 1 | sed '/^$/d' | paste -sd, -)
        status="job ${job}: ${conds:-running}"
    fi

    pods=$(kube -n "$ns" get pods -l "job-name=${job}" -o jsonpath="$POD_JSONPATH" 2>/dev/null) || pods=""
    # backoffLimit 0 means one pod; should there be more, the succeeded one (else the newest) counts.
    row=$(printf '%s\n' "$pods" | awk -F'\t' '$1 != "" { last = $0; if ($2 == "Succeeded") ok = $0 } END { print (ok != "" ? ok : last) }')
    # Tabs are whitespace to `read` (empty fields would collapse): split on the unit separator instead.
    IFS=$'\037' read -r pod phase node reason message exit_code scheduled image <<<"$(printf '%s' "$row" | tr '\t' '\037')" || true
    shown_reason="$reason"
    if [ -z "$shown_reason" ] && [[ $scheduled == False\|* ]]; then shown_reason=$(printf '%s' "$scheduled" | cut -d'|' -f2); fi
    if [ -n "$pod" ]; then
        status+="; pod ${pod}: ${phase}${shown_reason:+ (${shown_reason})}${node:+ on ${node}}"
    else
        status+="; no pod yet"
    fi

    if printf '%s\n' "$job_conditions" | grep -E '^(Complete|SuccessCriteriaMet)=True' >/dev/null; then
        outcome="complete"
        break
    fi
    failed=$(printf '%s\n' "$job_conditions" | grep -E '^(Failed|FailureTarget)=True' | head -n 1 || true)
    if [ -n "$failed" ]; then
        job_reason=$(printf '%s' "$failed" | cut -f 2)
        job_message=$(printf '%s' "$failed" | cut -f 3)
        if [ -n "$exit_code" ] && [ "$exit_code" != "0" ]; then
            fix="the verification command failed inside the pod (exit ${exit_code}): read its log above; 'Failed to initialize NVML' means the node lost GPU access (recreate the profile: 'minikube delete -p <profile>' then 'pulumi up')"
        elif [ "$job_reason" = "DeadlineExceeded" ]; then
            fix="the Job hit its active deadline: raise gpu-minikube:verification.timeoutSeconds, check that the image can be pulled"
        else
            fix="$(fix_for "${reason:-unknown}")"
        fi
        diagnose_and_fail "verification Job ${ns}/${job} failed" \
            "${job_reason:-Failed}: ${job_message:-no message}${reason:+; pod ${pod}: ${reason}}${exit_code:+ (exit ${exit_code})}" "$fix"
    fi

    current=""
    case "$reason" in
        ErrImagePull | ImagePullBackOff | InvalidImageName | CreateContainerConfigError) current="$reason" ;;
    esac
    if [ -z "$current" ] && [[ $scheduled == False\|Unschedulable* ]]; then current="Unschedulable"; fi
    if [ -n "$current" ]; then
        if [ -z "$stuck_since" ]; then stuck_since=$now; fi
        stuck_reason="$current"
        if [ $((now - stuck_since)) -ge "$stuck_s" ]; then
            detail="$message"
            if [ "$current" = "Unschedulable" ]; then detail="${scheduled#False|Unschedulable|}"; fi
            diagnose_and_fail "the verification pod ${pod} is stuck: ${stuck_reason} for $((now - stuck_since))s" \
                "${stuck_reason}: ${detail:-no message}" "$(fix_for "$stuck_reason")"
        fi
    else
        stuck_since=""
    fi

    log "poll ${poll} ($((now - start_s))s of ${timeout_s}s): ${status}"
    if [ "$now" -ge "$poll_deadline" ]; then
        outcome="timeout"
        break
    fi
    sleep "$GM_POLL_SECONDS"
done

if [ "$outcome" = "timeout" ]; then
    diagnose_and_fail "verification Job ${ns}/${job} did not complete within ${timeout_s}s" \
        "${status}" "check the pod's state and events above; raise gpu-minikube:verification.timeoutSeconds if it was still pulling the image"
fi

# --- complete: capture the whole log --------------------------------------------------------------
if [ -z "$pod" ]; then
    diagnose_and_fail "Job ${ns}/${job} completed but none of its pods is left" "no pod with label job-name=${job}" \
        "the pod was removed before its log was read (ttlSecondsAfterFinished?): run the verification again (change gpu-minikube:verification.runId)"
fi
rc=0
# The trailing "x" keeps the log's own final newlines, which command substitution would strip.
pod_log=$(kube -n "$ns" logs "$pod" 2>"$GM_TMP/logs.err" && printf x) || rc=$?
pod_log="${pod_log%x}"
if [ "$rc" -ne 0 ]; then
    diagnose_and_fail "could not read the log of pod ${ns}/${pod}" "kubectl logs exited ${rc}: $(first_line "$(cat "$GM_TMP/logs.err")")" \
        "run 'pulumi up' again; check the API server ('kubectl get --raw /readyz')"
fi
log "Job ${ns}/${job} completed on ${node:-unknown node}; pod ${pod} log: $(printf '%s\n' "$pod_log" | wc -l) lines"
printf '{"stage":"verification","jobName":%s,"succeeded":true,"pod":%s,"node":%s,"log":%s}\n' \
    "$(json_str "$job")" "$(json_str "$pod")" "$(json_str_or_null "$node")" "$(json_str "$pod_log")"
