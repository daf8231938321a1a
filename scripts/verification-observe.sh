#!/usr/bin/env bash
# Counts the failed verification attempts on this profile, read-only, on every `pulumi preview`
# and `pulumi up`. verification-wait.sh notes each Job it gave up on; a new count changes the
# verification Job's identity, so the `up` after a failure starts a fresh Job instead of keeping
# the failed result forever. The count is the same in the preview and the update phase of one
# `up` (nothing runs in between), so previewed and applied plans agree.
#
# Inputs (environment): GM_PROFILE; GM_STATE_DIR (optional, tests: where our per-profile notes live).
# Output (last stdout line): {"failedAttempts":N}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="verification-observe"

require_profile
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
file="$(gm_profile_state_dir "$GM_PROFILE")/verification-failed-attempts"
count=0
if [ -r "$file" ]; then count=$(grep -c . "$file" || true); fi
printf '{"failedAttempts":%d}\n' "$((10#${count:-0}))"
