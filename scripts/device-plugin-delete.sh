#!/usr/bin/env bash
# Destroy step of the device plugin: disables minikube's nvidia-device-plugin addon only when our
# create step enabled it (its summary says "enabledByUs":true) and the profile still exists. An addon
# that minikube enabled itself (--gpus all) or the user enabled is left alone.
#
# Inputs (environment): GM_PROFILE; PULUMI_COMMAND_STDOUT (the create step's stdout, set by Pulumi);
#   GM_TIMEOUT_SECONDS (optional, default 120).
# Output (last stdout line): {"stage":"device-plugin-delete","disabled":true|false}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="device-plugin-delete"

ADDON="nvidia-device-plugin"

require_profile
# Where our per-profile notes live (default ~/.gpu-minikube); overridable for tests.
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
GM_TIMEOUT_SECONDS="${GM_TIMEOUT_SECONDS:-120}"
require_uint GM_TIMEOUT_SECONDS 1 86400
profile="$GM_PROFILE"

# The create step's summary is its last JSON line; only an explicit "enabledByUs":true counts.
summary=$(printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | grep '^{"stage":"device-plugin"' | tail -n 1 || true)
ours=false
if [[ $summary == *'"enabledByUs":true'* ]]; then ours=true; fi
rm -f -- "$(gm_profile_state_dir "$profile")/device-plugin-enabled-by-us"

disabled=false
if [ "$ours" != true ]; then
    log "the ${ADDON} addon was not enabled by this program: leaving it as it is"
elif ! command -v minikube >/dev/null 2>&1 || [ ! -f "$(minikube_profile_config "$profile")" ]; then
    log "profile '${profile}' no longer exists: no addon to disable"
else
    log "disabling the ${ADDON} addon that this program enabled (minikube addons disable ${ADDON} -p ${profile})"
    rc=0
    with_deadline "$((10#$GM_TIMEOUT_SECONDS))" minikube addons disable "$ADDON" -p "$profile" >&2 || rc=$?
    if [ "$rc" -eq 0 ]; then
        disabled=true
    else
        # Not fatal: the cluster is deleted next in a full destroy, and a leftover addon harms nothing.
        log "WARNING: 'minikube addons disable ${ADDON} -p ${profile}' exited ${rc}; the addon may still be enabled (run it by hand to retry)"
    fi
fi
printf '{"stage":"device-plugin-delete","disabled":%s}\n' "$disabled"
