#!/usr/bin/env bash
# The last step of `pulumi up`: fails it when the GPU verification did not pass, with the reasons.
# The verification itself is recorded either way (gpuVerification says passed:false with the same
# reasons), so a pipeline can gate on the exit status of `pulumi up` or on the stack output. A
# failed step is not recorded in Pulumi's state, so every later `up` runs this again until the
# verification passes.
#
# Inputs (environment): GM_PASSED (true|false), GM_REASONS (one reason per line), GM_JOB (the
#   verification Job, for the message), GM_VERIFIED_AT (when it ran).
# Output (last stdout line): {"stage":"verification-gate","passed":true}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification"

require_bool GM_PASSED
require_env GM_REASONS GM_JOB GM_VERIFIED_AT
if [ "$GM_PASSED" != true ]; then
    # The reasons are data from the pod and the cluster: printed, never evaluated.
    {
        printf '[%s] GPU verification FAILED (Job %s, %s):\n' "$GM_STAGE" "${GM_JOB:-unknown}" "${GM_VERIFIED_AT:-unknown time}"
        printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d; s/^/  - /'
    } >&2
    fail "the GPU verification did not pass" "$(printf '%s\n' "$GM_REASONS" | sed '/^[[:space:]]*$/d' | paste -sd';' - | cut -c 1-2000)" \
        "fix what the reasons above name, then run 'pulumi up' again (a failed Job is replaced by a fresh one on the next up); 'pulumi stack output gpuVerification --json' shows the full result"
fi
log "GPU verification passed (Job ${GM_JOB}, ${GM_VERIFIED_AT})"
printf '{"stage":"verification-gate","passed":true}\n'
