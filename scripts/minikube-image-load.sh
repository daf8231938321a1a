#!/usr/bin/env bash
# Loads an image that the host has (pulled by Pulumi's docker provider) into the minikube node, so a
# Job using it starts without a registry pull. Skipped when `minikube image ls` already lists it.
#
# Inputs (environment): GM_PROFILE, GM_IMAGE (a Docker image reference);
#   GM_TIMEOUT_SECONDS (optional, default 600: the load copies ~240 MB for the CUDA base image).
# Output (last stdout line): {"stage":"image-load","image":…,"loaded":true|false}
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
GM_STAGE="image-load"

require_env GM_PROFILE GM_IMAGE
require_profile
# [registry[:port]/]path[:tag], lowercase path as Docker demands. No @sha256 digest: `image load`
# goes through docker save | load, which drops the registry digest (moby/moby#22011), so the node
# could never find a digest reference and `image ls` never lists one.
require_match GM_IMAGE '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$' \
    "a Docker image reference with a tag and no @sha256 digest, like nvidia/cuda:12.5.0-base-ubuntu22.04 (minikube image load drops digests)"
GM_TIMEOUT_SECONDS="${GM_TIMEOUT_SECONDS:-600}"
require_uint GM_TIMEOUT_SECONDS 1 86400
profile="$GM_PROFILE"
image="${GM_IMAGE:?}"
deadline=$(($(date +%s) + 10#$GM_TIMEOUT_SECONDS))

# The name as the node's runtime lists it: Docker Hub's implicit docker.io/ and library/ made
# explicit, :latest when there is no tag ("nvidia/cuda:12.5.0-base-ubuntu22.04" ->
# "docker.io/nvidia/cuda:12.5.0-base-ubuntu22.04").
name="$image"
first="${name%%/*}"
if [[ $name != */* ]]; then
    name="docker.io/library/${name}"
elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    name="docker.io/${name}"
fi
if [[ ${name##*/} != *:* ]]; then name="${name}:latest"; fi
want="$name"

if ! command -v minikube >/dev/null 2>&1; then
    fail "minikube is not installed" "no minikube on PATH" "run 'pulumi up' from the start: the cluster stage installs nothing, install minikube first"
fi
if [ ! -f "$(minikube_profile_config "$profile")" ]; then
    fail "minikube profile '${profile}' does not exist" "no $(minikube_profile_config "$profile")" \
        "run 'pulumi up' again: the cluster stage creates it"
fi

# listed — succeeds when the node already has the image.
listed() {
    local out rc=0
    out=$(with_deadline "$(budget 60)" minikube -p "$profile" image ls 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "could not list the images of profile '${profile}'" "'minikube -p ${profile} image ls' exited ${rc}: $(first_line "$out")" \
            "check 'minikube status -p ${profile}'; if the cluster is stopped, run 'pulumi up' again"
    fi
    printf '%s\n' "$out" | grep -xF -- "$want" >/dev/null
}

if listed; then
    log "profile ${profile} already has ${want}: not loading it"
    loaded=false
else
    log "loading ${image} into profile ${profile} (minikube image load; from the host's Docker, ~240 MB for the CUDA base image)"
    rc=0
    with_deadline "$(budget "$((10#$GM_TIMEOUT_SECONDS))")" minikube -p "$profile" image load "$image" >&2 || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "loading ${image} did not finish within ${GM_TIMEOUT_SECONDS}s" "'minikube image load' still running at the deadline" \
            "check the host's disk and Docker ('docker info'); the Job will pull the image itself if this step is skipped"
    elif [ "$rc" -ne 0 ]; then
        fail "could not load ${image} into profile '${profile}'" "'minikube -p ${profile} image load ${image}' exited ${rc}" \
            "check that the host has the image ('docker image inspect ${image}') and that the cluster runs ('minikube status -p ${profile}')"
    fi
    if ! listed; then
        fail "${image} is not in profile '${profile}' after loading it" "'minikube image ls' does not list ${want}" \
            "run 'minikube -p ${profile} image load ${image}' by hand and read its message"
    fi
    loaded=true
fi
printf '{"stage":"image-load","image":%s,"loaded":%s}\n' "$(json_str "$image")" "$loaded"
