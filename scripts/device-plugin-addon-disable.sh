#!/usr/bin/env bash
# Device plugin, mode "manifest", first step: disables minikube's nvidia-device-plugin addon (which
# `minikube start --gpus all|nvidia` enables by itself) and waits until its plugin pods are gone, before
# Pulumi deploys NVIDIA's plugin. Two plugins on one node both serve the kubelet socket nvidia-gpu.sock
# and advertise the same GPUs. minikube stores the disabled state in the profile, so a later
# `minikube start` does not bring the addon back (pkg/addons ToEnable keeps a saved state over defaults).
# Idempotent: a disabled addon is left as it is. No undo on destroy: switching back to mode "addon"
# enables the addon again (device-plugin.sh), and a full destroy deletes the cluster.
#
# Inputs (environment): GM_PROFILE; GM_KUBECONFIG (kubeconfig text, secret); GM_TIMEOUT_SECONDS;
#   GM_POLL_SECONDS (optional, default 2, at most 2; fractions allowed).
# Output (last stdout line):
#   {"stage":"device-plugin-addon-disable","addonWasEnabled":true|false,"disabled":true|false}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="device-plugin-addon-disable"

ADDON="nvidia-device-plugin"
PLUGIN_NAMESPACE="kube-system"
# The addon's DaemonSet (deploy/addons/nvidia-device-plugin in minikube) labels its pods so.
ADDON_SELECTOR="name=nvidia-device-plugin-ds"

require_profile
if [ -n "${GM_STATE_DIR:-}" ]; then require_path GM_STATE_DIR; fi
require_uint GM_TIMEOUT_SECONDS 1 86400
require_poll_seconds
profile="$GM_PROFILE"
timeout_s=$((10#$GM_TIMEOUT_SECONDS))
set_poll_deadlines "$timeout_s"

private_tmpdir
kubeconfig_from_env

require_minikube_and_kubectl_for_profile "$profile"

rc=0
addons_json=$(with_deadline "$(budget 60)" minikube addons list -p "$profile" -o json 2>"$GM_TMP/addons.err") || rc=$?
addons_json=$(printf '%s' "$addons_json" | tr -d '[:space:]')
if [ "$rc" -ne 0 ]; then
    fail "could not list the addons of profile '${profile}'" "'minikube addons list -p ${profile} -o json' exited ${rc}: $(first_line "$(cat "$GM_TMP/addons.err")")" \
        "check 'minikube status -p ${profile}'"
fi
# {"<addon>":{"Profile":"<profile>","Status":"enabled|disabled"},…} (cmd/minikube/cmd/config/addons_list.go)
entry=$(printf '%s' "$addons_json" | grep -o "\"${ADDON}\":{[^}]*}" || true)
if [[ $(printf '%s' "$addons_json" | grep -o '"nvidia-gpu-device-plugin":{[^}]*}' || true) == *'"Status":"enabled"'* ]]; then
    log "WARNING: the deprecated nvidia-gpu-device-plugin addon (KVM only) is enabled too; 'minikube addons disable nvidia-gpu-device-plugin -p ${profile}' removes it"
fi

was_enabled=false
disabled=false
if [[ $entry == *'"Status":"enabled"'* ]]; then
    was_enabled=true
    log "disabling minikube's ${ADDON} addon: NVIDIA's plugin is managed by Pulumi in mode \"manifest\" (minikube addons disable ${ADDON} -p ${profile})"
    rc=0
    with_deadline "$(budget 120)" minikube addons disable "$ADDON" -p "$profile" >&2 || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "could not disable the ${ADDON} addon" "'minikube addons disable ${ADDON} -p ${profile}' exited ${rc}" \
            "read minikube's message above; run 'minikube addons disable ${ADDON} -p ${profile}' by hand, then 'pulumi up' again"
    fi
    disabled=true
else
    log "minikube's ${ADDON} addon is not enabled"
fi
# The addon-mode step's note that it enabled the addon is no longer true.
rm -f -- "$(gm_profile_state_dir "$profile")/device-plugin-enabled-by-us"

# `kubectl delete -f` (what minikube runs) returns before the garbage collector removed the pods.
poll=0
while true; do
    poll=$((poll + 1))
    rc=0
    left=$(kube -n "$PLUGIN_NAMESPACE" get pods -l "$ADDON_SELECTOR" -o name 2>"$GM_TMP/pods.err") || rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$left" ]; then break; fi
    if [ "$rc" -ne 0 ]; then
        err=$(first_line "$(cat "$GM_TMP/pods.err")")
        seen="the API server did not answer (${err:-kubectl exit ${rc}})"
    else
        seen="still there: $(printf '%s' "$left" | paste -sd' ' -)"
    fi
    if [ "$(date +%s)" -ge "$poll_deadline" ]; then
        fail "the addon's plugin pods did not go away within ${timeout_s}s" "$seen" \
            "check 'kubectl -n ${PLUGIN_NAMESPACE} get pods -l ${ADDON_SELECTOR}' and 'minikube addons list -p ${profile}', then run 'pulumi up' again"
    fi
    log "poll ${poll} ($(($(date +%s) - start_s))s of ${timeout_s}s): waiting for the addon's plugin pods to go: ${seen}"
    sleep "$GM_POLL_SECONDS"
done

printf '{"stage":"device-plugin-addon-disable","addonWasEnabled":%s,"disabled":%s}\n' "$was_enabled" "$disabled"
