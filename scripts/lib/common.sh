#!/usr/bin/env bash
# Shared helpers for the host scripts. Sourced, never run: `source "$(dirname "$0")/lib/common.sh"`.
# Conventions (DESIGN.md §3): inputs only through environment variables, progress and errors on
# stderr, and exactly one machine-readable JSON summary line as the last line of stdout.

# The stage name prefixes every progress line and error, so a failed `pulumi up` says where it broke.
GM_STAGE="${GM_STAGE:-gpu-minikube}"

# log MESSAGE... — a progress line on stderr (Pulumi shows it live while the command runs).
log() {
    printf '[%s] %s\n' "$GM_STAGE" "$*" >&2
}

# fail WHAT FOUND FIX — one error line naming the stage, what was found and how to fix it; exits 1.
fail() {
    printf '[%s] ERROR: %s (found: %s). Fix: %s\n' "$GM_STAGE" "$1" "$2" "$3" >&2
    exit 1
}

# require_env NAME... — every named input must be set (empty is allowed); a missing one is our bug.
require_env() {
    local name
    for name in "$@"; do
        if [ -z "${!name+x}" ]; then
            fail "input ${name} is not set" "no ${name} in the environment" "run this script through the Pulumi program, or export ${name}"
        fi
    done
}

# json_str VALUE — VALUE as a JSON string literal (quotes, backslashes and control characters escaped).
json_str() {
    local s="$1" out="" c i code
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
            '"') out+='\"' ;;
            '\') out+='\\' ;;
            $'\n') out+='\n' ;;
            $'\r') out+='\r' ;;
            $'\t') out+='\t' ;;
            *)
                printf -v code '%d' "'$c"
                if [ "$code" -ge 0 ] && [ "$code" -lt 32 ]; then
                    printf -v c '\\u%04x' "$code"
                fi
                out+="$c"
                ;;
        esac
    done
    printf '"%s"' "$out"
}

# json_bool VALUE — "true" for 1/true/yes, else "false".
json_bool() {
    case "$1" in
        1 | true | yes) printf 'true' ;;
        *) printf 'false' ;;
    esac
}

# json_str_array VALUE... — the values as a JSON array of strings.
json_str_array() {
    local first=1 v
    printf '['
    for v in "$@"; do
        [ "$first" -eq 1 ] || printf ','
        first=0
        json_str "$v"
    done
    printf ']'
}

# is_true VALUE — succeeds for the spellings of true our inputs use.
is_true() {
    case "$1" in
        1 | true | yes) return 0 ;;
        *) return 1 ;;
    esac
}

# as_root CMD... — runs CMD as root: directly when we are root, else through non-interactive sudo.
# Pulumi gives commands no TTY, so a sudo password prompt would hang; `sudo -n` turns it into an error.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if ! sudo -n true 2>/dev/null; then
            fail "root is needed to run '$1'" "sudo asks for a password (no TTY under Pulumi)" \
                "run 'sudo -v' in the same shell right before 'pulumi up', or allow passwordless sudo for this user"
        fi
        sudo -n "$@"
    else
        fail "root is needed to run '$1'" "not root and no sudo" "run pulumi up as root or install sudo"
    fi
}

# wait_until TIMEOUT_SECONDS INTERVAL_SECONDS DESCRIPTION CMD... — polls CMD until it succeeds,
# printing a progress line per poll; returns 1 (does not exit) when the deadline passes, so the
# caller can add what it saw and what to check.
wait_until() {
    local timeout="$1" interval="$2" what="$3"
    shift 3
    local start now elapsed
    start=$(date +%s)
    while true; do
        if "$@"; then
            return 0
        fi
        now=$(date +%s)
        elapsed=$((now - start))
        if [ "$elapsed" -ge "$timeout" ]; then
            log "gave up waiting for ${what} after ${elapsed}s (deadline ${timeout}s)"
            return 1
        fi
        log "waiting for ${what} (${elapsed}s of ${timeout}s)"
        sleep "$interval"
    done
}

# with_deadline SECONDS CMD... — runs CMD but kills it after SECONDS (exit 124), so no single
# external call (docker, minikube, kubectl) can hang the stage.
with_deadline() {
    local seconds="$1"
    shift
    timeout --kill-after=5 "$seconds" "$@"
}
