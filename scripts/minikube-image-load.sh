#!/usr/bin/env bash
# Loads an image that the host has (pulled by Pulumi's docker provider) into the minikube node, so a
# Job using it starts without a registry pull. Skipped when the node already lists the image's name
# with the host's image id; loaded again when the id differs (a moved tag: the host pulled new content
# under the same name, and the node must run what the host checked).
#
# Inputs (environment):
#   GM_PROFILE          the minikube profile
#   GM_IMAGE            a Docker image reference with a tag, no @sha256 digest
#   GM_IMAGE_ID         optional: the host's image id (`docker image inspect --format '{{.Id}}'`, Pulumi's
#                       RemoteImage.imageId): "sha256:<64 hex>", "<64 hex>" or empty. Empty: any image the
#                       node lists under the name counts as loaded (the id is not compared).
#   GM_TIMEOUT_SECONDS  optional, default 600: the load copies ~240 MB for the CUDA base image
# Output (last stdout line):
#   {"stage":"image-load","image":…,"loaded":true|false,"nodeImageId":"sha256:…"|null,"hostImageId":"sha256:…"|null}
#   nodeImageId is the id the node lists for the image once this step is done; it can differ from
#   hostImageId after a load (a host whose Docker uses the containerd image store: see below).
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
GM_IMAGE_ID="${GM_IMAGE_ID:-}"
# Lowercase hex only: the digest grammar (opencontainers/go-digest) has no uppercase sha256.
require_match GM_IMAGE_ID '^((sha256:)?[0-9a-f]{64})?$' \
    "the host's image id as 'docker image inspect --format {{.Id}}' prints it (sha256: and 64 lowercase hex digits), or empty"
GM_TIMEOUT_SECONDS="${GM_TIMEOUT_SECONDS:-600}"
require_uint GM_TIMEOUT_SECONDS 1 86400
profile="$GM_PROFILE"
image="${GM_IMAGE:?}"
host_id="${GM_IMAGE_ID#sha256:}"
deadline=$(($(date +%s) + 10#$GM_TIMEOUT_SECONDS))

# The name as the node's runtime lists it: Docker Hub's implicit docker.io/ and library/ made
# explicit, :latest when there is no tag ("nvidia/cuda:12.5.0-base-ubuntu22.04" ->
# "docker.io/nvidia/cuda:12.5.0-base-ubuntu22.04"; minikube v1.38.1 pkg/minikube/cruntime/docker.go
# AddDockerIO).
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
private_tmpdir

# node_ids — the ids (sha256: stripped, one per line) of the node's images listed under $want;
# nothing when the node does not list the name.
# `minikube image ls --format json` prints json.Marshal([]cruntime.ListImage) on one line (k8s.io/minikube
# v1.38.1 pkg/minikube/machine/cache_images.go ListImages; pkg/minikube/cruntime/cruntime.go ListImage):
#   [{"id":"<64 hex>","repoDigests":[],"repoTags":["docker.io/nvidia/cuda:12.5.0-base-ubuntu22.04"],"size":"…"},…]
# one object per image id, all of its tags in repoTags (mergeImageLists). The docker runtime trims
# "sha256:" from the id (cruntime/docker.go ListImages: `docker images --no-trunc`, not CRI: ListImages
# builds its runtime without a socket); the CRI path (containerd, cri-o: cruntime/cri.go listCRIImages)
# passes crictl's "sha256:<hex>" through. So both forms are read. The objects are flat and neither ids
# nor tags can hold quotes or braces, so splitting at "}" gives one image per line: no jq needed.
node_ids() {
    local out rc=0 obj tags re='[{,]"id":"([^"]*)"'
    out=$(with_deadline "$(budget 60)" minikube -p "$profile" image ls --format json 2>"$GM_TMP/ls.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "could not list the images of profile '${profile}'" \
            "'minikube -p ${profile} image ls --format json' exited ${rc}: $(first_line "$(cat "$GM_TMP/ls.err")")" \
            "check 'minikube status -p ${profile}'; if the cluster is stopped, run 'pulumi up' again"
    fi
    out=$(first_line "$out")
    if [[ $out != \[*\] ]]; then
        fail "could not read the images of profile '${profile}'" \
            "'minikube -p ${profile} image ls --format json' printed $(printf '%q' "${out:0:120}") instead of a JSON list" \
            "run it by hand; 'image ls --format json' needs minikube v1.25 or newer (kubernetes/minikube#12996), the cluster stage v1.32"
    fi
    while IFS= read -r obj; do
        [[ $obj == *'"repoTags":['* ]] || continue
        tags="${obj#*\"repoTags\":[}"
        tags="${tags%%]*}"
        [[ ",${tags}," == *",\"${want}\","* ]] || continue
        if [[ $obj =~ $re ]]; then printf '%s\n' "${BASH_REMATCH[1]#sha256:}"; else printf '\n'; fi
    done < <(printf '%s\n' "$out" | tr '}' '\n')
}

# differing IDS — the first of IDS (lines) that is not the host's id; fails when there is none.
differing() {
    local id
    while IFS= read -r id; do
        if [ "$id" != "$host_id" ]; then
            printf '%s' "$id"
            return 0
        fi
    done <<<"$1"
    return 1
}

# id_json ID — "sha256:ID" as a JSON string, or null when ID is empty.
id_json() {
    if [ -n "$1" ]; then json_str "sha256:$1"; else printf 'null'; fi
}

ids=$(node_ids)
node_id=$(printf '%s\n' "$ids" | sed -n 1p)
if [ -n "$ids" ] && { [ -z "$host_id" ] || ! differing "$ids" >/dev/null; }; then
    if [ -n "$host_id" ]; then
        log "profile ${profile} already has ${want} at the host's id sha256:${host_id}: not loading it"
    else
        log "profile ${profile} already has ${want}: not loading it (no host image id given to compare)"
    fi
    loaded=false
else
    if [ -n "$ids" ]; then
        node_id=$(differing "$ids")
        log "profile ${profile} has ${want} as sha256:${node_id}, the host as sha256:${host_id} (a moved tag): loading the host's"
    fi
    log "loading ${image} into profile ${profile} (minikube image load; from the host's Docker, ~240 MB for the CUDA base image)"
    rc=0
    # `image load` replaces a tag the node already has (--overwrite, default true: k8s.io/minikube
    # v1.38.1 cmd/minikube/cmd/image.go; then `docker load` in the node, cruntime/docker.go LoadImage).
    with_deadline "$(budget "$((10#$GM_TIMEOUT_SECONDS))")" minikube -p "$profile" image load "$image" >&2 || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "loading ${image} did not finish within ${GM_TIMEOUT_SECONDS}s" "'minikube image load' still running at the deadline" \
            "check the host's disk and Docker ('docker info'); the Job will pull the image itself if this step is skipped"
    elif [ "$rc" -ne 0 ]; then
        fail "could not load ${image} into profile '${profile}'" "'minikube -p ${profile} image load ${image}' exited ${rc}" \
            "check that the host has the image ('docker image inspect ${image}') and that the cluster runs ('minikube status -p ${profile}')"
    fi
    # minikube exits 0 when loading into the node failed ("Live pushes are not considered a failure",
    # machine/cache_images.go DoLoadImages), so only the listing says whether it worked.
    before="$node_id"
    ids=$(node_ids)
    if [ -z "$ids" ]; then
        fail "${image} is not in profile '${profile}' after loading it" "'minikube image ls' does not list ${want}" \
            "check 'minikube status -p ${profile}' (a node that is not running gets no images), then run 'minikube -p ${profile} image load ${image}' by hand and read its message"
    fi
    node_id=$(printf '%s\n' "$ids" | sed -n 1p)
    if [ -n "$host_id" ] && other=$(differing "$ids"); then
        node_id="$other"
        # Not a failure: with the containerd image store, the host's Docker names an image by its
        # manifest (list) digest, while the node's Docker (storage-driver overlay2: cruntime/docker.go
        # configureDocker) names it by its config digest (docker/cli#5526, docker/buildx#3952), so
        # the same image has two ids.
        if [ "$node_id" = "$before" ]; then changed="unchanged by the load"; else changed="new with this load"; fi
        log "WARNING: after loading, profile ${profile} lists ${want} as sha256:${node_id} (${changed}), the host's Docker as sha256:${host_id}." \
            "If the host's Docker uses the containerd image store ('docker info' shows driver-type io.containerd.snapshotter.v1)," \
            "that is the same image under its manifest digest; otherwise compare 'minikube -p ${profile} image ls --format table' with 'docker image ls ${image}'."
    fi
    loaded=true
fi
printf '{"stage":"image-load","image":%s,"loaded":%s,"nodeImageId":%s,"hostImageId":%s}\n' \
    "$(json_str "$image")" "$loaded" "$(id_json "$node_id")" "$(id_json "$host_id")"
