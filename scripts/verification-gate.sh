#!/usr/bin/env bash
# The last step of `pulumi up`: fails it when the GPU verification did not pass, with the reasons.
# The verification itself is recorded either way (gpuVerification says passed:false with the same
# reasons), so a pipeline can gate on the exit status of `pulumi up` or on the stack output. A
# failed step is not recorded in Pulumi's state, so every later `up` runs this again until the
# verification passes. So that the next `up` checks again instead of failing on the recorded verdict,
# a failure is noted where that `up` looks: with GM_PROFILE (minikube mode) as a failed attempt on the
# profile, as verification-wait.sh notes a Job it gave up on (verification-observe.sh counts them);
# with GM_NAMESPACE and GM_RUN (an existing cluster) by marking that run incomplete on our namespace,
# as verify-gpu-nodes.sh marks a run with a failed, stuck or timed-out node (existing-cluster-observe.sh
# reads the mark).
#
# Inputs (environment): GM_PASSED (true|false), GM_REASONS (one reason per line), GM_JOB (the
#   verification Job, for the message), GM_VERIFIED_AT (when it ran); GM_PROFILE (optional, the
#   minikube profile), GM_STATE_DIR (optional, tests: where our per-profile notes live);
#   GM_RUN, GM_NAMESPACE and GM_KUBECONFIG (optional: the verify-gpu-nodes.sh run, our verification
#   namespace, the cluster's kubeconfig text, secret; nothing is marked without GM_RUN).
# Output (last stdout line): {"stage":"verification-gate","passed":true}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification"

require_bool GM_PASSED
require_env GM_REASONS GM_JOB GM_VERIFIED_AT
if [ -n "${GM_PROFILE:-}" ]; then require_profile; fi
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
GM_NAMESPACE="${GM_NAMESPACE:-}"
GM_RUN="${GM_RUN:-}"
# Without a run id (no run finished) there is nothing to mark.
if [ -n "$GM_RUN" ]; then
    require_match GM_NAMESPACE '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' "a Kubernetes namespace name (DNS-1123 label)"
    # verify-gpu-nodes.sh's run ids: "r" and 1-16 hex digits.
    require_match GM_RUN '^r[0-9a-f]{1,16}$' "a verification run id such as r1a2b3c4d"
fi
again=""
if [ "$GM_PASSED" != true ]; then
    if [ -n "${GM_PROFILE:-}" ]; then
        # The same notes file verification-wait.sh writes and verification-observe.sh counts.
        mkdir -p "$(gm_profile_state_dir "$GM_PROFILE")"
        printf 'gate %s %s\n' "${GM_JOB:-unknown}" "${GM_VERIFIED_AT:-unknown}" >>"$(gm_profile_state_dir "$GM_PROFILE")/verification-failed-attempts"
        again="it runs the verification again with fresh Jobs"
    fi
    if [ -n "$GM_RUN" ]; then
        deadline=$(($(date +%s) + 30))
        private_tmpdir
        rc=0
        if [ -z "${GM_KUBECONFIG:-}" ]; then
            printf 'no kubeconfig given (GM_KUBECONFIG)\n' >"$GM_TMP/annotate.out"
            rc=2
        elif ! command -v kubectl >/dev/null 2>&1; then
            printf 'kubectl is not on PATH\n' >"$GM_TMP/annotate.out"
            rc=127
        else
            kubeconfig_from_env
            kube annotate namespace "$GM_NAMESPACE" "gpu-minikube/last-run=${GM_RUN}-incomplete" --overwrite >"$GM_TMP/annotate.out" 2>&1 || rc=$?
        fi
        if [ "$rc" -eq 0 ]; then
            again="it verifies every GPU node again"
        else
            log "WARNING: could not mark run ${GM_RUN} incomplete on namespace ${GM_NAMESPACE}: $(kubectl_error "$(cat "$GM_TMP/annotate.out")")"
        fi
    fi
    if [ -z "$again" ]; then
        again="nodes whose Job failed, got stuck or timed out are verified again, and a node that changed; to re-verify the others, change gpu-minikube:verification.runId"
    fi
    # The reasons are data from the pod and the cluster: printed, never evaluated.
    {
        printf '[%s] GPU verification FAILED (Job %s, %s):\n' "$GM_STAGE" "${GM_JOB:-unknown}" "${GM_VERIFIED_AT:-unknown time}"
        printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d; s/^/  - /'
    } >&2
    fail "the GPU verification did not pass" "$(printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d' | paste -sd';' - | cut -c 1-2000)" \
        "fix what the reasons above name, then run 'pulumi up' again (${again}); 'pulumi stack output gpuVerification --json' shows the full result"
fi
log "GPU verification passed (Job ${GM_JOB}, ${GM_VERIFIED_AT})"
printf '{"stage":"verification-gate","passed":true}\n'
