#!/usr/bin/env bash
# Read-only probe, run on every preview and up (an invoke): which Docker daemon this user's docker CLI
# talks to (DOCKER_HOST, else the current context's endpoint) and whether it answers. The Pulumi docker
# provider is pointed at that endpoint, so the scripts and the provider use the same daemon; when it
# does not answer, the program stops with preflight's message for it instead of a provider error.
# Always exits 0 (a failed invoke would hide the reason); the caller decides.
#
# Inputs (environment): none required. GM_DOCKER_CALL_SECONDS optional (default 10), deadline of each call.
# Summary (last stdout line): {"stage":"docker-endpoint","dockerHost":"unix:///var/run/docker.sock",
# "reachable":bool,"error":"…"|null,"fix":"…"|null}
set -euo pipefail
GM_STAGE=preflight
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"
require_uint GM_DOCKER_CALL_SECONDS 1 300

endpoint=""
reachable=false
error=""
fix=""
if ! command -v docker >/dev/null 2>&1; then
    error="no docker on PATH"
    fix="install Docker Engine (https://docs.docker.com/engine/install/)"
else
    endpoint=$(docker_endpoint)
    if docker_info; then
        reachable=true
    else
        error="$DOCKER_INFO_ERROR"
        fix=$(docker_unreachable_fix)
    fi
fi
printf '{"stage":"docker-endpoint","dockerHost":%s,"reachable":%s,"error":%s,"fix":%s}\n' \
    "$(json_str "$endpoint")" "$reachable" "$(json_str_or_null "$error")" "$(json_str_or_null "$fix")"
