#!/usr/bin/env bash
# The last step of `pulumi up`: fails it when the GPU verification did not pass, with the reasons.
# The verification itself is recorded either way (gpuVerification says passed:false with the same
# reasons), so a pipeline can gate on the exit status of `pulumi up` or on the stack output. A
# failed step is not recorded in Pulumi's state, so every later `up` runs this again until the
# verification passes. With GM_PROFILE (minikube mode) a failure is noted as a failed attempt on the
# profile, as verification-wait.sh notes a Job it gave up on: verification-observe.sh counts them, so
# the next `up` runs fresh verification Jobs instead of failing again on the recorded verdict.
#
# Inputs (environment): GM_PASSED (true|false), GM_REASONS (one reason per line), GM_JOB (the
#   verification Job, for the message), GM_VERIFIED_AT (when it ran); GM_PROFILE (optional, the
#   minikube profile), GM_STATE_DIR (optional, tests: where our per-profile notes live).
# Output (last stdout line): {"stage":"verification-gate","passed":true}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification"

require_bool GM_PASSED
require_env GM_REASONS GM_JOB GM_VERIFIED_AT
if [ -n "${GM_PROFILE:-}" ]; then require_profile; fi
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
if [ "$GM_PASSED" != true ]; then
    if [ -n "${GM_PROFILE:-}" ]; then
        # The same notes file verification-wait.sh writes and verification-observe.sh counts.
        mkdir -p "$(gm_profile_state_dir "$GM_PROFILE")"
        printf 'gate %s %s\n' "${GM_JOB:-unknown}" "${GM_VERIFIED_AT:-unknown}" >>"$(gm_profile_state_dir "$GM_PROFILE")/verification-failed-attempts"
    fi
    # The reasons are data from the pod and the cluster: printed, never evaluated.
    {
        printf '[%s] GPU verification FAILED (Job %s, %s):\n' "$GM_STAGE" "${GM_JOB:-unknown}" "${GM_VERIFIED_AT:-unknown time}"
        printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d; s/^/  - /'
    } >&2
    if [ -n "${GM_PROFILE:-}" ]; then
        again="it runs the verification again with fresh Jobs"
    else
        again="nodes whose Job failed, got stuck or timed out are verified again, and a node that changed; to re-verify the others, change gpu-minikube:verification.runId"
    fi
    fail "the GPU verification did not pass" "$(printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d' | paste -sd';' - | cut -c 1-2000)" \
        "fix what the reasons above name, then run 'pulumi up' again (${again}); 'pulumi stack output gpuVerification --json' shows the full result"
fi
log "GPU verification passed (Job ${GM_JOB}, ${GM_VERIFIED_AT})"
printf '{"stage":"verification-gate","passed":true}\n'
