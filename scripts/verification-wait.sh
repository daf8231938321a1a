#!/usr/bin/env bash
# Waits for the GPU verification Job (created by Pulumi with skipAwait) and captures its pod's log.
#   Complete                                       -> summary with the whole log (nvidia-smi + CSV query)
#   Failed; its pod stuck in ErrImagePull / ImagePullBackOff / InvalidImageName /
#   CreateContainerConfigError or Unschedulable (e.g. "Insufficient nvidia.com/gpu"; not while the
#   GPU is held by our own pod that is terminating, which frees it), or scheduled
#   with no container status (a dead kubelet), for GM_STUCK_SECONDS; the Job gone; the deadline
#                                                  -> gives up: prints the pod's and the Job's state,
#                                                     events and log tail (and the node's Ready
#                                                     condition) on stderr, deletes the Job so its pod
#                                                     frees the GPU, notes the failed attempt (the
#                                                     next `pulumi up` then starts a fresh Job), and
#                                                     exits 0 with "succeeded":false and the reason.
# A failed verification is thus a recorded result, not a failed step: the gpuVerification output
# says passed:false with the reason, and the gate step after this one fails `pulumi up` with it.
# Only broken inputs (and a missing kubectl) fail the step itself.
#
# Inputs (environment): GM_KUBECONFIG (kubeconfig text, secret), GM_NAMESPACE, GM_JOB_NAME,
#   GM_TIMEOUT_SECONDS; optional GM_JOB_UID (the Job's metadata.uid as Pulumi created it: a Job
#   recreated by `pulumi up --refresh` has a new one, which re-runs this step), GM_PROFILE (where the
#   failed attempts are noted), GM_POLL_SECONDS (default 2, at most 2; fractions allowed) and
#   GM_STUCK_SECONDS (default 15); GM_IMAGE_KEY (the config key of the Job's image, named in fixes:
#   verification.image, the default, or verification.images.<workload> for vectorAdd/nbody).
# Output (last stdout line):
#   {"stage":"verification","jobName":…,"succeeded":true|false,"pod":…,"node":…,"log":"<whole pod log>",
#    "failure":null|"<what> (found: …). Fix: …","jobDeleted":true|false,"verifiedAt":"<UTC ISO 8601>",
#    "startedAt":null|"<RFC 3339>","finishedAt":null|"<RFC 3339>"}   (the container's run, when it ended)
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
GM_IMAGE_KEY="${GM_IMAGE_KEY:-verification.image}"
require_match GM_IMAGE_KEY '^verification\.(image|images\.[A-Za-z]{1,32})$' "verification.image or verification.images.<workload>"
GM_JOB_UID="${GM_JOB_UID:-}"
require_match GM_JOB_UID '^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$' "empty or a Kubernetes object UID"
if [ -n "${GM_PROFILE:-}" ]; then require_profile; fi
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
ns="$GM_NAMESPACE"
job="$GM_JOB_NAME"
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
stuck_s=$((10#$GM_STUCK_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env
require_kubectl

# First line: the Job's uid; then one line per condition.
JOB_JSONPATH='{.metadata.uid}{"\n"}{range .status.conditions[*]}{.type}{"="}{.status}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}'
# One line per pod: name, phase, node, waiting/terminated reason, its message, exit code,
# PodScheduled condition (status|reason|message), image, names of the containers with a status,
# container start and finish, and the owner's uid (stripped before the row is read).
POD_JSONPATH='{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.spec.nodeName}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.reason}{.state.terminated.reason}{end}{"\t"}{range .status.containerStatuses[*]}{.state.waiting.message}{.state.terminated.message}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.exitCode}{end}{"\t"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{"|"}{.reason}{"|"}{.message}{end}{"\t"}{.spec.containers[0].image}{"\t"}{range .status.containerStatuses[*]}{.name}{","}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.startedAt}{end}{"\t"}{range .status.containerStatuses[*]}{.state.terminated.finishedAt}{end}{"\t"}{.metadata.ownerReferences[0].uid}{"\n"}{end}'
# Every pod that is not finished, with its managed-by label and its nvidia.com/gpu limits: who holds GPUs.
HOLDERS_JSONPATH='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\t"}{.metadata.labels.app\.kubernetes\.io/managed-by}{"\t"}{.spec.nodeName}{"\t"}{range .spec.containers[*]}{.resources.limits.nvidia\.com/gpu}{end}{"\t"}{.metadata.deletionTimestamp}{"\n"}{end}'
NODE_READY_JSONPATH='{range .status.conditions[?(@.type=="Ready")]}{.status}{"|"}{.reason}{"|"}{.message}{"|"}{.lastHeartbeatTime}{end}'

pod="" phase="" node="" reason="" message="" exit_code="" scheduled="" image="" statuses="" started="" finished=""
job_conditions="" job_uid="" node_ready="" gpu_holders="" ours_holding="" ours_terminating="" diag_pod_log=""

# attempts_file — where failed verification attempts on this profile are noted (one Job per line);
# scripts/verification-observe.sh counts them, and a new count gives the next `up` a fresh Job.
attempts_file() {
    printf '%s/verification-failed-attempts' "$(gm_profile_state_dir "$GM_PROFILE")"
}

# node_ready_text — the Ready condition of the pod's node as "Ready=<status> (<reason>): <message>, last heartbeat <time>".
node_ready_text() {
    [ -n "$node_ready" ] || { printf 'unknown (could not read node %s)' "${node:-?}"; return 0; }
    printf '%s' "$node_ready" | awk -F'|' '{ printf "Ready=%s%s%s%s", $1, ($2 == "" ? "" : " (" $2 ")"), ($3 == "" ? "" : ": " $3), ($4 == "" ? "" : ", last heartbeat " $4) }'
}

# give_up WHAT FOUND FIX — prints the pod's and the Job's state, events and log tail, deletes the Job
# (so its pod frees the GPU for the next try), notes the failed attempt, and reports the failure as
# this step's result (exit 0): the gate step fails `pulumi up` with it.
give_up() {
    local what="$1" found="$2" fix="$3" failure rc=0 deleted=false
    # The diagnostics and the delete share a bounded tail (common.sh begin_tail): the step ends by
    # its deadline + GM_TAIL_MIN_SECONDS, and the delete always keeps its own last 3 s.
    begin_tail 3
    print_diagnostics
    failure="${what} (found: ${found}). Fix: ${fix} (diagnostics above)"
    printf '[%s] verification failed: %s\n' "$GM_STAGE" "$failure" >&2
    # Ours to delete: Pulumi created it in our own namespace. Background deletion returns at once;
    # the garbage collector removes the pod right after, which releases its nvidia.com/gpu.
    begin_cleanup
    kube -n "$ns" delete job "$job" --ignore-not-found --wait=false --cascade=background >"$GM_TMP/delete.out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        deleted=true
        log "deleted Job ${ns}/${job} (and so its pod) so that it holds no GPU; the next 'pulumi up' starts a fresh Job"
    else
        log "WARNING: could not delete Job ${ns}/${job}: $(kubectl_error "$(cat "$GM_TMP/delete.out")")${rc:+ (kubectl exit ${rc}$([ "$rc" -eq 124 ] && printf ', timed out'))}"
    fi
    if [ -n "${GM_PROFILE:-}" ]; then
        mkdir -p "$(gm_profile_state_dir "$GM_PROFILE")"
        printf '%s/%s\n' "$ns" "$job" >>"$(attempts_file)"
    fi
    summary false "$diag_pod_log" "$failure" "$deleted"
    exit 0
}

# summary SUCCEEDED LOG FAILURE JOB_DELETED — the step's JSON summary line.
summary() {
    printf '{"stage":"verification","jobName":%s,"succeeded":%s,"pod":%s,"node":%s,"log":%s,"failure":%s,"jobDeleted":%s,"verifiedAt":%s,"startedAt":%s,"finishedAt":%s}\n' \
        "$(json_str "$job")" "$1" "$(json_str_or_null "$pod")" "$(json_str_or_null "$node")" "$(json_str "$2")" \
        "$(json_str_or_null "$3")" "$4" "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" \
        "$(json_str_or_null "$started")" "$(json_str_or_null "$finished")"
}

# print_diagnostics — the pod's and the Job's state, events and log tail, on stderr.
print_diagnostics() {
    local pod_events="" job_events="" pod_log="" no_log="(none)"
    if [ -n "$node" ] && [ -z "$node_ready" ]; then read_node_ready; fi
    if [ -n "$pod" ]; then
        pod_events=$(kube -n "$ns" get events --field-selector "involvedObject.name=${pod}" 2>&1) || true
        # A container that never started has no log: kubectl says why (BadRequest: "… is waiting to
        # start: …" or "no logs found for container …"); that reason is shown, never taken for the log.
        if pod_log=$(kube -n "$ns" logs "$pod" --tail=20 2>"$GM_TMP/diag-log.err"); then
            diag_pod_log="$pod_log"
        else
            pod_log=""
            no_log="(no log: $(kubectl_error "$(cat "$GM_TMP/diag-log.err")"))"
        fi
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
            if [ -n "$node" ]; then printf '  node %s: %s\n' "$node" "$(node_ready_text)"; fi
            printf '  events of pod %s:\n' "$pod"
            if [ -n "$pod_events" ]; then tail_lines 10 "$pod_events"; else printf '  | (none)\n'; fi
            printf '  last log lines of pod %s:\n' "$pod"
            if [ -n "$pod_log" ]; then tail_lines 20 "$pod_log"; else printf '  | %s\n' "$no_log"; fi
        else
            printf '  no pod of the Job exists (label job-name=%s)\n' "$job"
        fi
        printf '  events of Job %s:\n' "$job"
        if [ -n "$job_events" ]; then tail_lines 10 "$job_events"; else printf '  | (none)\n'; fi
        if [ -n "$gpu_holders" ]; then
            printf '  pods holding nvidia.com/gpu:\n'
            tail_lines 20 "$gpu_holders"
        fi
    } >&2
}

# read_node_ready — the Ready condition of the pod's node, into node_ready.
read_node_ready() {
    node_ready=""
    [ -n "$node" ] || return 0
    node_ready=$(kube get node "$node" -o jsonpath="$NODE_READY_JSONPATH" 2>/dev/null) || node_ready=""
}

# read_gpu_holders — the unfinished pods other than ours that hold nvidia.com/gpu, into gpu_holders
# ("<ns>/<pod> on <node>: nvidia.com/gpu <n> (ours|not ours)[, terminating]"); ours_holding counts those this
# program made (label app.kubernetes.io/managed-by=gpu-minikube).
read_gpu_holders() {
    local rows
    gpu_holders="" ours_holding="" ours_terminating=""
    rows=$(kube get pods -A --field-selector 'status.phase!=Succeeded,status.phase!=Failed' -o jsonpath="$HOLDERS_JSONPATH" 2>/dev/null) || return 0
    gpu_holders=$(printf '%s\n' "$rows" | awk -F'\t' -v self="${ns}/${pod}" '
        $1 != "" && $1 != self && $4 != "" && $4 != "0" {
            printf "%s on %s: nvidia.com/gpu %s (%s)%s\n", $1, ($3 == "" ? "no node yet" : $3), $4, ($2 == "gpu-minikube" ? "ours" : "not ours"), ($5 == "" ? "" : ", terminating")
        }')
    ours_holding=$(printf '%s\n' "$gpu_holders" | grep -F '(ours)' | sed 's/ on .*//' | paste -sd, - || true)
    ours_terminating=$(printf '%s\n' "$gpu_holders" | grep -F '(ours), terminating' | sed 's/ on .*//' | paste -sd, - || true)
}

# fix_for REASON — what to do about a pod stuck for REASON.
fix_for() {
    case "$1" in
        ErrImagePull | ImagePullBackOff)
            printf '%s' "the node cannot pull '${image}': check the image name (gpu-minikube:${GM_IMAGE_KEY}) and the host's network access to its registry; loading it first also works: 'minikube -p <profile> image load ${image}'" ;;
        InvalidImageName)
            printf '%s' "'${image}' is not a valid image reference: fix gpu-minikube:${GM_IMAGE_KEY}" ;;
        CreateContainerConfigError)
            printf '%s' "the pod's container configuration is invalid (see the message): check the Job spec" ;;
        NoContainerStatus)
            printf '%s' "the node agent (kubelet) on node ${node} does not run the pod (node $(node_ready_text)): check 'minikube status -p <profile>' and 'minikube logs -p <profile>'; restarting the cluster ('minikube stop -p <profile>', then 'pulumi up') brings the kubelet back, and the next 'pulumi up' starts a fresh verification Job" ;;
        Unschedulable)
            # verification.gpus sizes the nvidia-smi Job only; a vectorAdd/nbody Job (its image key is
            # verification.images.<workload>) always asks for one GPU, or one share of it.
            local gpus_hint="check that gpu-minikube:verification.gpus is at most the node's allocatable nvidia.com/gpu"
            local gpus_fix="set gpu-minikube:verification.gpus to at most that"
            if [ "$GM_IMAGE_KEY" != verification.image ]; then
                gpus_hint="this Job asks for one GPU: check that the node still advertises one ('kubectl describe node')"
                gpus_fix="this Job asks for one GPU, so at least one must be free"
            fi
            if [[ $scheduled == *nvidia.com/gpu* ]] && [ -n "$ours_holding" ]; then
                printf '%s' "the GPU is held by our own pod(s) ${ours_holding} (made by this program, e.g. an earlier verification): delete them ('kubectl delete pod -n <namespace> <pod>') or wait until they finish, then run 'pulumi up' again; also ${gpus_hint}"
            elif [[ $scheduled == *nvidia.com/gpu* ]]; then
                printf '%s' "no node has enough free nvidia.com/gpu: check 'kubectl describe node' (allocatable nvidia.com/gpu), ${gpus_fix}, and make sure no other pod holds the GPU (pods holding nvidia.com/gpu are listed above)"
            else
                printf '%s' "the scheduler found no node for the pod: see the PodScheduled message and the events"
            fi ;;
        *)
            printf '%s' "see the pod's message and events" ;;
    esac
}

begin_polls
pods=""
poll=0
stuck_since=""
stuck_reason=""
stuck_class_seen=""
missing_since=""
outcome=""
while true; do
    poll=$((poll + 1))
    now=$(date +%s)
    rc=0
    job_out=$(kube -n "$ns" get job "$job" -o jsonpath="$JOB_JSONPATH" 2>"$GM_TMP/job.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        job_error=$(kubectl_error "$(cat "$GM_TMP/job.err")")
        job_conditions="" job_uid=""
        if [[ $job_error == *NotFound* || $job_error == *"not found"* ]]; then
            if [ -z "$missing_since" ]; then missing_since=$now; fi
            if [ $((now - missing_since)) -ge "$stuck_s" ]; then
                give_up "Job ${ns}/${job} does not exist" "${job_error}" \
                    "it was deleted outside Pulumi: run 'pulumi up --refresh' (Pulumi then sees it is gone, creates it again and this step re-runs); check 'kubectl -n ${ns} get jobs'"
            fi
        fi
        status="the API server did not answer for the Job (${job_error:-kubectl exit ${rc}})"
    else
        missing_since=""
        job_uid=$(printf '%s\n' "$job_out" | sed -n 1p)
        job_conditions=$(printf '%s\n' "$job_out" | tail -n +2)
        if [ -n "$GM_JOB_UID" ] && [ -n "$job_uid" ] && [ "$job_uid" != "$GM_JOB_UID" ]; then
            give_up "Job ${ns}/${job} is not the one Pulumi created" "uid ${job_uid}, Pulumi created ${GM_JOB_UID}" \
                "it was replaced outside Pulumi: run 'pulumi up --refresh'"
        fi
        conds=$(printf '%s\n' "$job_conditions" | cut -f 1 | sed '/^$/d' | paste -sd, -)
        status="job ${job}: ${conds:-running}"
    fi

    # A pod list that fails (a slow API server, or cut short by the end of the polls) keeps the last
    # one seen: the failure then says what was last seen, not "no pod".
    pods_ok=true
    if pods_now=$(kube -n "$ns" get pods -l "job-name=${job}" -o jsonpath="$POD_JSONPATH" 2>/dev/null); then pods="$pods_now"; else pods_ok=false; fi
    # backoffLimit 0 means one pod; should there be more, the succeeded one (else the newest) counts.
    # Only this Job's own pods (owner uid, the last field, once the Job's uid is known): a deleted Job
    # of the same name (recreated by `pulumi up --refresh`) may still have a terminating pod.
    row=$(printf '%s\n' "$pods" | awk -F'\t' -v uid="$job_uid" '
        $1 != "" && (uid == "" || $NF == "" || $NF == uid) { r = $0; sub(/\t[^\t]*$/, "", r); last = r; if ($2 == "Succeeded") ok = r }
        END { print (ok != "" ? ok : last) }')
    # Tabs are whitespace to `read` (empty fields would collapse): split on the unit separator instead.
    IFS=$'\037' read -r pod phase node reason message exit_code scheduled image statuses started finished <<<"$(printf '%s' "$row" | tr '\t' '\037')" || true
    shown_reason="$reason"
    if [ -z "$shown_reason" ] && [[ $scheduled == False\|* ]]; then shown_reason=$(printf '%s' "$scheduled" | cut -d'|' -f2); fi
    if [ -n "$pod" ]; then
        status+="; pod ${pod}: ${phase}${shown_reason:+ (${shown_reason})}${node:+ on ${node}}"
    else
        status+="; no pod yet"
    fi

    # Complete, and its pod read in the same poll (a pod list that timed out is asked again, never
    # taken for "no pod": that would record a false failure).
    if [ "$pods_ok" = true ] && printf '%s\n' "$job_conditions" | grep -E '^(Complete|SuccessCriteriaMet)=True' >/dev/null; then
        outcome="complete"
        break
    fi
    failed=$(printf '%s\n' "$job_conditions" | grep -E '^(Failed|FailureTarget)=True' | sed -n 1p || true)
    if [ -n "$failed" ]; then
        job_reason=$(printf '%s' "$failed" | cut -f 2)
        job_message=$(printf '%s' "$failed" | cut -f 3)
        if [ -n "$exit_code" ] && [ "$exit_code" != "0" ]; then
            fix="the verification command failed inside the pod (exit ${exit_code}): read its log above; 'Failed to initialize NVML' means the node lost GPU access (recreate the profile: 'minikube delete -p <profile>' then 'pulumi up')"
        elif [ "$job_reason" = "DeadlineExceeded" ]; then
            fix="the Job hit its active deadline: check that the image can be pulled, raise gpu-minikube:verification.timeoutSeconds if it needs longer; the next 'pulumi up' starts a fresh Job"
        else
            fix="$(fix_for "${reason:-unknown}")"
        fi
        give_up "verification Job ${ns}/${job} failed" \
            "${job_reason:-Failed}: ${job_message:-no message}${reason:+; pod ${pod}: ${reason}}${exit_code:+ (exit ${exit_code})}" "$fix"
    fi

    current=""
    case "$reason" in
        ErrImagePull | ImagePullBackOff | InvalidImageName | CreateContainerConfigError) current="$reason" ;;
    esac
    if [ -z "$current" ] && [[ $scheduled == False\|Unschedulable* ]]; then current="Unschedulable"; fi
    # Bound to a node, yet no container status at all: the node's kubelet has not taken the pod up
    # (it posts a status with ContainerCreating within a second or two when it runs).
    if [ -z "$current" ] && [ -n "$pod" ] && [ -n "$node" ] && [ "$phase" = "Pending" ] && [ -z "$statuses" ]; then
        current="NoContainerStatus"
    fi
    if [ -n "$current" ]; then
        # The kubelet flips a pod that cannot pull between ErrImagePull and ImagePullBackOff on every
        # retry (back-off 10 s, 20 s, …): one stuck state, or the count would restart on each flip.
        stuck_class="$current"
        case "$current" in ErrImagePull | ImagePullBackOff) stuck_class=ImagePull ;; esac
        if [ -z "$stuck_since" ] || [ "$stuck_class" != "$stuck_class_seen" ]; then stuck_since=$now; fi
        stuck_class_seen="$stuck_class"
        stuck_reason="$current"
        if [ $((now - stuck_since)) -ge "$stuck_s" ]; then
            # The diagnostics below get the tail's bounds (give_up's own); waiting on, the polls' again.
            begin_tail 3
            detail="$message" freeing=false
            if [ "$current" = "Unschedulable" ]; then
                detail="${scheduled#False|Unschedulable|}"
                read_gpu_holders
                # Our own pod that is terminating (e.g. of the Job a run before this one gave up on)
                # frees the GPU within its grace period: not stuck, wait for it (up to the deadline).
                if [[ $scheduled == *nvidia.com/gpu* ]] && [ -n "$ours_terminating" ]; then
                    log "pod ${pod} waits for the GPU that our terminating pod(s) ${ours_terminating} still hold"
                    stuck_since=$now freeing=true
                    unset tail_end_ms
                    begin_polls
                fi
            fi
            if [ "$current" = "NoContainerStatus" ]; then
                read_node_ready
                detail="pod ${pod} was scheduled to node ${node} but has no container status after $((now - stuck_since))s; node $(node_ready_text)"
            fi
            if [ "$freeing" = false ]; then
                give_up "the verification pod ${pod} is stuck: ${stuck_reason} for $((now - stuck_since))s" \
                    "${stuck_reason}: ${detail:-no message}" "$(fix_for "$stuck_reason")"
            fi
        fi
    else
        stuck_since=""
        stuck_reason=""
        stuck_class_seen=""
    fi

    log "poll ${poll} ($((now - start_s))s of ${timeout_s}s): ${status}"
    if ! poll_time_left; then
        outcome="timeout"
        break
    fi
    sleep "$GM_POLL_SECONDS"
done

if [ "$outcome" = "timeout" ]; then
    begin_tail 3
    read_node_ready
    give_up "verification Job ${ns}/${job} did not complete within ${timeout_s}s" \
        "${status}" "check the pod's state and events above; raise gpu-minikube:verification.timeoutSeconds if it was still pulling the image; the next 'pulumi up' starts a fresh Job"
fi

# --- complete: capture the whole log --------------------------------------------------------------
end_polls
if [ -z "$pod" ]; then
    give_up "Job ${ns}/${job} completed but none of its pods is left" "no pod with label job-name=${job}" \
        "the pod was removed before its log was read (ttlSecondsAfterFinished?): the next 'pulumi up' starts a fresh Job"
fi
# The trailing "x" keeps the log's own final newlines, which command substitution would strip. A
# read that fails (a slow or restarting API server) is tried again before it counts as a failure.
for attempt in 1 2 3; do
    rc=0
    pod_log=$(kube -n "$ns" logs "$pod" 2>"$GM_TMP/logs.err" && printf x) || rc=$?
    pod_log="${pod_log%x}"
    if [ "$rc" -eq 0 ] || [ "$attempt" -eq 3 ]; then break; fi
    log "could not read the log of pod ${ns}/${pod} (kubectl exit ${rc}); trying again"
    sleep 1
done
if [ "$rc" -ne 0 ]; then
    give_up "could not read the log of pod ${ns}/${pod}" "kubectl logs exited ${rc}: $(kubectl_error "$(cat "$GM_TMP/logs.err")")" \
        "check the API server ('kubectl get --raw /readyz'); the next 'pulumi up' starts a fresh Job"
fi
log "Job ${ns}/${job} completed on ${node:-unknown node}; pod ${pod} log: $(printf '%s\n' "$pod_log" | wc -l) lines"
summary true "$pod_log" "" false
