#!/usr/bin/env bash
# Destroy step of the cluster: `minikube delete -p <profile>` and nothing broader (never --all or
# --purge, which would take the user's other profiles and caches). An absent profile is a no-op.
# Our own notes about the profile (start token, addon bookkeeping) are removed too.
#
# Inputs (environment): GM_PROFILE; GM_TIMEOUT_SECONDS (optional, default 300).
# Output (last stdout line): {"stage":"cluster-delete","deleted":true|false}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="cluster-delete"

require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
GM_TIMEOUT_SECONDS="${GM_TIMEOUT_SECONDS:-300}"
require_uint GM_TIMEOUT_SECONDS 1 86400
profile="$GM_PROFILE"

deleted=false
if ! command -v minikube >/dev/null 2>&1; then
    log "minikube is not installed: there is no profile '${profile}' to delete"
elif [ ! -f "$(minikube_profile_config "$profile")" ]; then
    log "profile '${profile}' does not exist: nothing to delete"
else
    log "deleting minikube profile '${profile}' (minikube delete -p ${profile})"
    rc=0
    with_deadline "$((10#$GM_TIMEOUT_SECONDS))" minikube delete -p "$profile" >&2 || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "minikube delete -p ${profile} failed (exit ${rc})" "profile '${profile}' is still there" \
            "read minikube's message above; check that Docker runs ('docker info'), then run 'minikube delete -p ${profile}' by hand and 'pulumi destroy' again"
    fi
    deleted=true
fi
rm -rf -- "$(gm_profile_state_dir "$profile")"
printf '{"stage":"cluster-delete","deleted":%s}\n' "$deleted"
