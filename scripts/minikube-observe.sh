#!/usr/bin/env bash
# Observes the minikube profile, read-only; runs on every `pulumi preview` and `pulumi up`, so it is
# quick and never fails on the host's state: any problem becomes a state string.
#
# Input (environment): GM_PROFILE  the minikube profile.
# Output (last stdout line): {"state":"Running|Stopped|Absent|NoMinikube|Unknown","token":"…"}
#   token: while the cluster is Running, the token the last successful minikube-start.sh recorded
#   (so the start step's input is unchanged and it does not run again); otherwise a fresh value
#   "<state>-<unix seconds>-<random>", which makes Pulumi run the start step.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="cluster-observe"

require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi

# emit STATE — prints the summary for STATE and exits 0.
emit() {
    local state="$1" token="" token_file
    token_file="$(gm_profile_state_dir "$GM_PROFILE")/start-token"
    if [ "$state" = "Running" ] && [ -r "$token_file" ]; then
        token=$(head -n 1 "$token_file" | tr -cd 'A-Za-z0-9._-' | cut -c 1-128) || token=""
    fi
    if [ -z "$token" ]; then
        local random
        random=$(od -An -N4 -tx4 /dev/urandom 2>/dev/null | tr -cd '0-9a-f') || random=""
        token="$(printf '%s' "$state" | tr '[:upper:]' '[:lower:]')-$(date +%s)-${random:-$$}"
    fi
    log "profile ${GM_PROFILE}: ${state}"
    printf '{"state":%s,"token":%s}\n' "$(json_str "$state")" "$(json_str "$token")"
    exit 0
}

if ! command -v minikube >/dev/null 2>&1; then
    emit NoMinikube
fi
emit "$(minikube_profile_state "$GM_PROFILE" 20)"
