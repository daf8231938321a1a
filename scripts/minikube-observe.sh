#!/usr/bin/env bash
# Observes the minikube profile, read-only; runs on every `pulumi preview` and `pulumi up`, so it is
# quick and never fails on the host's state: any problem becomes a state string.
#
# Input (environment): GM_PROFILE  the minikube profile.
# Output (last stdout line): {"state":"Running|Stopped|Absent|NoMinikube|Unknown","token":"…"}
#   token: while the cluster is Running, the token the last successful minikube-start.sh recorded
#   (so the start step's input is unchanged and it does not run again); otherwise
#   "<state>-<hash>", where the hash covers the state, the recorded token and the identity
#   (mtime, inode) of the profile's config.json and of minikube's profiles folder. It differs from
#   the recorded token, so Pulumi runs the start step; and it is the same for the same observed
#   state, so the preview and the update phase of one `up` (two runs of this probe) agree and
#   `pulumi preview --save-plan` / `pulumi up --plan` work. minikube rewrites config.json on every
#   start and the profiles folder changes on every create/delete, so each incarnation differs.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="cluster-observe"

require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi

# emit STATE — prints the summary for STATE and exits 0.
emit() {
    local state="$1" token="" recorded="" token_file config identity
    token_file="$(gm_profile_state_dir "$GM_PROFILE")/start-token"
    if [ -r "$token_file" ]; then
        recorded=$(head -n 1 "$token_file" | tr -cd 'A-Za-z0-9._-' | cut -c 1-128) || recorded=""
    fi
    if [ "$state" = "Running" ] && [ -n "$recorded" ]; then
        token="$recorded"
    else
        config=$(minikube_profile_config "$GM_PROFILE")
        identity="${state}|${recorded}|$(stat -c '%Y.%i' "$config" 2>/dev/null || true)|$(stat -c '%Y.%i' "$(dirname "$(dirname "$config")")" 2>/dev/null || true)"
        token="$(printf '%s' "$state" | tr '[:upper:]' '[:lower:]')-$(printf '%s' "$identity" | sha256sum | cut -c 1-16)"
    fi
    log "profile ${GM_PROFILE}: ${state}"
    printf '{"state":%s,"token":%s}\n' "$(json_str "$state")" "$(json_str "$token")"
    exit 0
}

if ! command -v minikube >/dev/null 2>&1; then
    emit NoMinikube
fi
emit "$(minikube_profile_state "$GM_PROFILE" 20)"
