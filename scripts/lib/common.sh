#!/usr/bin/env bash
# Shared helpers for the host scripts. Sourced, never run: `source "$(dirname "$0")/lib/common.sh"`.
# Conventions (DESIGN.md §3): inputs only through environment variables, progress and errors on
# stderr, and exactly one machine-readable JSON summary line as the last line of stdout.
# Pipelines end in readers that read to the end (`sed -n 1p`, `grep … >/dev/null`), never in `head`
# or `grep -q`: those exit early, the writer then dies of SIGPIPE, and under `set -o pipefail` the
# pipeline's status is 141 — a script killed, or a check answered "no", by the size of an output.

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

# json_str VALUE — VALUE as a JSON string literal: quotes, backslashes and control characters
# escaped. awk does the work because pod logs and kubeconfigs are long, and a per-character bash
# loop takes seconds on them; bytes are passed through (LC_ALL=C), so UTF-8 text stays intact.
json_str() {
    local s="$1" trailing=""
    # awk reads records: a final newline would otherwise be lost.
    if [[ $s == *$'\n' ]]; then trailing='\n'; fi
    printf '"'
    printf '%s' "$s" | LC_ALL=C awk '
        BEGIN {
            for (i = 1; i < 32; i++) esc[sprintf("%c", i)] = sprintf("\\u%04x", i)
            esc["\t"] = "\\t"; esc["\r"] = "\\r"; esc["\""] = "\\\""; esc["\\"] = "\\\\"
        }
        {
            if (NR > 1) printf "\\n"
            n = length($0)
            for (i = 1; i <= n; i++) {
                c = substr($0, i, 1)
                if (c in esc) printf "%s", esc[c]; else printf "%s", c
            }
        }'
    printf '%s"' "$trailing"
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

# The fix when a privileged step finds no sudo. Never "run as root": minikube's docker driver refuses
# root (DRV_AS_ROOT, k8s.io/minikube v1.38.1 cmd/minikube/cmd/start.go), so Pulumi runs as a normal user.
GM_SUDO_FIX="install sudo (as root: 'apt-get install -y sudo; usermod -aG sudo <user>'), then, as that user, run 'sudo -v' right before 'pulumi up'"

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
        fail "root is needed to run '$1'" "not root and no sudo" "$GM_SUDO_FIX"
    fi
}

# can_root — whether as_root would work without asking (root, or sudo without a password).
can_root() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && timeout 5 sudo -n true 2>/dev/null; }
}

# require_root_access WHY — fails now (before anything changes) when as_root could not work: not
# root and no sudo, or sudo that would ask for a password.
require_root_access() {
    [ "$(id -u)" -eq 0 ] && return 0
    if ! command -v sudo >/dev/null 2>&1; then
        fail "root is needed for $1" "not root and no sudo" "$GM_SUDO_FIX"
    fi
    if ! timeout 5 sudo -n true 2>/dev/null; then
        fail "root is needed for $1" "sudo asks for a password (no TTY under Pulumi)" \
            "run 'sudo -v' in the same shell right before 'pulumi up', or allow passwordless sudo for this user"
    fi
}

# with_deadline SECONDS CMD... — runs CMD but kills it after SECONDS (exit 124), so no single
# external call (docker, minikube, kubectl) can hang the stage.
with_deadline() {
    local seconds="$1"
    shift
    timeout --kill-after=5 "$seconds" "$@"
}

# ---------------------------------------------------------------------------------------------
# Added for the cluster, device-plugin and verification scripts; usable by any host script.

# require_match NAME REGEX WHAT — input NAME (an environment variable) must match the bash regular
# expression REGEX (anchor it); otherwise fail, quoting the value safely and saying what is allowed.
# Run it before any other command sees the value: nothing unvalidated reaches a command line.
require_match() {
    local name="$1" re="$2" what="$3" value="${!1-}"
    if ! [[ $value =~ $re ]]; then
        fail "input ${name} is invalid" "$(printf '%q' "${value:0:120}")" "set ${name} to ${what}"
    fi
}

# private_tmpdir — creates this run's private temp dir (mode 700) in GM_TMP; it is removed on exit,
# also when the run is interrupted or terminated.
private_tmpdir() {
    GM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gpu-minikube.XXXXXXXX")
    chmod 700 "$GM_TMP"
    trap 'rm -rf -- "$GM_TMP"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# kubeconfig_from_env — writes the (secret) kubeconfig text in GM_KUBECONFIG to a mode-600 file in
# GM_TMP (call private_tmpdir first), sets GM_KUBECONFIG_FILE to its path and drops the variable, so
# kubectl is always run with `--kubeconfig "$GM_KUBECONFIG_FILE"`, never the ambient ~/.kube/config.
kubeconfig_from_env() {
    if [ -z "${GM_KUBECONFIG:-}" ]; then
        fail "input GM_KUBECONFIG is empty" "no kubeconfig content" \
            "run this step through the Pulumi program (it passes the cluster's kubeconfig), or export GM_KUBECONFIG=\"\$(cat <kubeconfig file>)\""
    fi
    GM_KUBECONFIG_FILE="$GM_TMP/kubeconfig"
    (umask 077 && printf '%s\n' "$GM_KUBECONFIG" >"$GM_KUBECONFIG_FILE")
    unset GM_KUBECONFIG
}

# minikube_home — minikube's own directory, resolved as minikube does it (pkg/minikube/localpath
# MiniPath): $MINIKUBE_HOME when it ends in .minikube, else $MINIKUBE_HOME/.minikube, else ~/.minikube.
minikube_home() {
    local h="${MINIKUBE_HOME:-}"
    if [ -z "$h" ]; then
        printf '%s/.minikube' "$HOME"
    elif [ "$(basename "$h")" = ".minikube" ]; then
        printf '%s' "$h"
    else
        printf '%s/.minikube' "$h"
    fi
}

# minikube_profile_config PROFILE — the profile's config.json; minikube considers a profile to exist
# exactly when this file does (config.ProfileExists).
minikube_profile_config() {
    printf '%s/profiles/%s/config.json' "$(minikube_home)" "$1"
}

# gm_profile_state_dir PROFILE — where this program keeps its own per-profile notes (start token,
# whether we enabled the device-plugin addon); removed with the profile on destroy.
gm_profile_state_dir() {
    printf '%s/profiles/%s' "${GM_STATE_DIR:-$HOME/.gpu-minikube}" "$1"
}

# json_get FILE KEY[.KEY...] — the scalar value at that key path in an indented JSON file with one
# key per line (what Go's json.MarshalIndent writes, e.g. minikube's config.json): strings without
# their quotes, numbers and booleans as written, "null" as empty. Prints nothing when the key is absent.
json_get() {
    LC_ALL=C awk -v want="$2" '
        function path(   p, i) {
            p = ""
            for (i = 1; i <= depth; i++) if (stack[i] != "") p = p (p == "" ? "" : ".") stack[i]
            return p
        }
        {
            line = $0
            sub(/^[ \t]+/, "", line); sub(/[ \t]*,?[ \t]*$/, "", line)
            if (line ~ /^[]}]/) { if (depth > 0) depth--; next }
            if (line ~ /^[[{]$/) { depth++; stack[depth] = (depth == 1 ? "" : "[]"); next }
            if (line !~ /^"[^"]*":/) next
            key = line; sub(/^"/, "", key); sub(/":.*$/, "", key)
            val = line; sub(/^"[^"]*":[ \t]*/, "", val)
            if (val ~ /^[[{]$/) { depth++; stack[depth] = key; next }
            if (val ~ /^[[{]/) next
            full = path(); full = full (full == "" ? "" : ".") key
            if (full == want) {
                if (val == "null") val = ""
                else if (val ~ /^".*"$/) { val = substr(val, 2, length(val) - 2); gsub(/\\"/, "\"", val) }
                print val; exit
            }
        }' "$1"
}

# --- Input validation (DESIGN.md §3: every input is checked before it is used) ---

# require_bool NAME — input NAME must be exactly `true` or `false`.
require_bool() {
    require_env "$1"
    case "${!1}" in
        true | false) ;;
        *) fail "input $1 must be true or false" "$1=$(printf '%q' "${!1}")" "pass true or false" ;;
    esac
}

# require_enum NAME ALLOWED... — input NAME must be one of ALLOWED.
require_enum() {
    local name="$1" v
    shift
    require_env "$name"
    for v in "$@"; do
        [ "${!name}" = "$v" ] && return 0
    done
    fail "input ${name} must be one of: $*" "${name}=$(printf '%q' "${!name}")" "pass one of: $*"
}

# require_uint NAME MIN MAX — input NAME must be a decimal integer in [MIN, MAX].
require_uint() {
    local name="$1" min="$2" max="$3"
    require_env "$name"
    if ! [[ "${!name}" =~ ^[0-9]{1,9}$ ]] || [ "$((10#${!name}))" -lt "$min" ] || [ "$((10#${!name}))" -gt "$max" ]; then
        fail "input ${name} must be an integer from ${min} to ${max}" "${name}=$(printf '%q' "${!name}")" "pass a whole number of seconds in that range"
    fi
}

# require_path NAME — NAME must be an absolute path of plain characters (letters, digits, / . _ + -),
# so it is safe inside messages, sed expressions and apt source lines.
require_path() {
    local name="$1"
    require_env "$name"
    if ! [[ "${!name}" =~ ^/[A-Za-z0-9/._+-]*$ ]] || [[ "${!name}" == *..* ]]; then
        fail "${name} must be an absolute path of letters, digits and / . _ + -" "${name}=$(printf '%q' "${!name}")" "unset ${name} (it exists for tests only) or give a plain absolute path"
    fi
}

# json_num_or_null VALUE — VALUE as a JSON number when it is a plain integer, else null.
json_num_or_null() {
    if [[ "$1" =~ ^[0-9]{1,15}$ ]]; then
        printf '%d' "$((10#$1))"
    elif [[ "$1" =~ ^-[0-9]{1,15}$ ]]; then
        printf '%d' "$((-10#${1#-}))"
    else
        printf 'null'
    fi
}

# json_str_or_null VALUE — VALUE as a JSON string, or null when it is empty.
json_str_or_null() {
    if [ -n "$1" ]; then json_str "$1"; else printf 'null'; fi
}

# tail_lines N TEXT — the last N non-empty lines of TEXT, each prefixed with "  | " (for error output).
tail_lines() {
    printf '%s\n' "$2" | sed '/^[[:space:]]*$/d' | tail -n "$1" | sed 's/^/  | /'
}

# first_line TEXT — the first non-empty line of TEXT (for a one-line "found: …").
first_line() {
    printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | sed -n 1p
}

# require_kubectl — kubectl on PATH, or the error saying how to install it.
require_kubectl() {
    if ! command -v kubectl >/dev/null 2>&1; then
        fail "kubectl is not installed" "no kubectl on PATH" \
            "install it (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ or 'sudo snap install kubectl --classic'), then run 'pulumi up' again"
    fi
}

# allocatable_json ROWS — ROWS (one node a line: name TAB allocatable TAB …) as a JSON object of
# node → allocatable count; an allocatable that is not a count is 0.
allocatable_json() {
    local out="" node alloc
    while IFS=$'\037' read -r node alloc _; do
        [ -n "$node" ] || continue
        [[ $alloc =~ ^[0-9]+$ ]] || alloc=0
        out+="${out:+,}$(json_str "$node"):$((10#$alloc))"
    done <<<"$(printf '%s' "$1" | tr '\t' '\037')"
    printf '{%s}' "$out"
}

# kubectl_error TEXT — the line of kubectl's stderr TEXT that says what went wrong: client-go logs
# klog lines ("E1130 01:26:53.406994    2504 memcache.go:265] …") before its own message (e.g. "The
# connection to the server 127.0.0.1:6443 was refused …"), so the first line that is not a klog
# line; the first line when every line is one.
kubectl_error() {
    local line
    line=$(printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | grep -vE '^[IWEF][0-9]{4} [0-9:.]+ +[0-9]+ [^ ]+:[0-9]+\] ' | sed -n 1p || true)
    if [ -n "$line" ]; then printf '%s\n' "$line"; else first_line "$1"; fi
}

# minikube_profile_state PROFILE SECONDS — Running | Stopped | Absent | Unknown, from the profile's
# config.json and `minikube status -o json` (bounded by SECONDS). Running means every node's host
# and kubelet and the control plane's API server run; a profile whose node container is gone or
# paused counts as Stopped (`minikube start` brings it back). Never fails.
minikube_profile_state() {
    local profile="$1" seconds="$2" out rc=0 hosts others
    if [ ! -f "$(minikube_profile_config "$profile")" ]; then
        printf 'Absent'
        return 0
    fi
    out=$(with_deadline "$seconds" minikube status -p "$profile" -o json 2>/dev/null) || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then printf 'Unknown'; return 0; fi
    # 85 is minikube's "guest not found" exit code (the profile vanished since we looked).
    if [ "$rc" -eq 85 ]; then printf 'Absent'; return 0; fi
    hosts=$(printf '%s' "$out" | grep -o '"Host":"[^"]*"' || true)
    if [ -z "$hosts" ]; then
        # `null`: the config exists but the node container does not.
        if printf '%s\n' "$out" | tr -d ' \t\r' | grep -x 'null' >/dev/null; then printf 'Stopped'; else printf 'Unknown'; fi
        return 0
    fi
    # Worker nodes report their APIServer as "Irrelevant".
    others=$(printf '%s' "$out" | grep -o -e '"Host":"[^"]*"' -e '"Kubelet":"[^"]*"' -e '"APIServer":"[^"]*"' |
        grep -v -e ':"Running"$' -e ':"Irrelevant"$' || true)
    if [ -z "$others" ]; then printf 'Running'; else printf 'Stopped'; fi
}

# require_minikube_and_kubectl_for_profile PROFILE: fails (with the fix) unless minikube and kubectl
# are on PATH and the profile exists; the device-plugin steps run only after the cluster stage.
require_minikube_and_kubectl_for_profile() {
    local tool profile=$1
    for tool in minikube kubectl; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            fail "${tool} is not installed" "no ${tool} on PATH" \
                "install it (kubectl: https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/ or 'sudo snap install kubectl --classic'), then run 'pulumi up' again"
        fi
    done
    if [ ! -f "$(minikube_profile_config "$profile")" ]; then
        fail "minikube profile '${profile}' does not exist" "no $(minikube_profile_config "$profile")" \
            "run 'pulumi up' again: the cluster stage creates it"
    fi
}

# require_poll_seconds — GM_POLL_SECONDS (default 2) must be a poll interval above 0 and at most 2 s:
# waits poll at least every 2 s so progress and failures show up quickly.
require_poll_seconds() {
    GM_POLL_SECONDS="${GM_POLL_SECONDS:-2}"
    require_match GM_POLL_SECONDS '^(0?\.[0-9]{1,3}|[12](\.0{1,3})?|1\.[0-9]{1,3})$' "a number of seconds above 0 and at most 2 (e.g. 2 or 0.5)"
    if [[ $GM_POLL_SECONDS =~ ^0?\.0+$ ]]; then
        fail "input GM_POLL_SECONDS is invalid" "GM_POLL_SECONDS=${GM_POLL_SECONDS}" "set GM_POLL_SECONDS to a number of seconds above 0 and at most 2"
    fi
}

# set_poll_deadlines TIMEOUT_SECONDS — sets start_s, deadline (start + timeout) and poll_deadline,
# which comes a fifth of the timeout (1 to 10 s) earlier, so a wait that gives up still has time
# to gather its diagnostics and fail within the deadline.
set_poll_deadlines() {
    local timeout_s="$1" reserve
    start_s=$(date +%s)
    deadline=$((start_s + timeout_s))
    reserve=$((timeout_s / 5))
    if [ "$reserve" -gt 10 ]; then reserve=10; fi
    if [ "$reserve" -lt 1 ] && [ "$timeout_s" -ge 2 ]; then reserve=1; fi
    # shellcheck disable=SC2034 # read by the scripts that source this file
    poll_deadline=$((deadline - reserve))
    # The same end of the polls to the millisecond, for begin_polls.
    poll_end_ms=$(($(now_ms) + (timeout_s - reserve) * 1000))
}

# begin_polls — from here on, until end_polls or begin_tail, every `kube` call ends by the end of the
# polls (poll_deadline, to the millisecond): a poll can never eat the time kept for the tail.
begin_polls() {
    kube_end_ms=$poll_end_ms
    poll_interval_ms=$(awk -v s="$GM_POLL_SECONDS" 'BEGIN { printf "%d", s * 1000 }')
}

# poll_time_left — whether one more poll, after the poll interval, still starts a second before the
# end of the polls (a poll cut short by the end would report nothing it saw).
poll_time_left() {
    [ $(($(now_ms) + poll_interval_ms + 1000)) -lt "$poll_end_ms" ]
}

# end_polls — the wait succeeded: `kube` calls are bounded by the step's deadline again.
end_polls() {
    kube_end_ms=""
}

# require_profile — GM_PROFILE must be set and a valid minikube profile name (the same rule as the
# `profile` config key): it becomes a Docker container name and a kube context name.
require_profile() {
    require_env GM_PROFILE
    require_match GM_PROFILE '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$' \
        "1-40 lowercase letters, digits and '-', starting and ending with a letter or digit"
}

# budget SECONDS — SECONDS, or less when the step's $deadline (epoch seconds) is nearer (at least 1),
# so no single call can run past the step's deadline.
budget() {
    local left=$((deadline - $(date +%s)))
    if [ "$left" -lt 1 ]; then left=1; fi
    if [ "$1" -lt "$left" ]; then printf '%d' "$1"; else printf '%d' "$left"; fi
}

# now_ms — the time in milliseconds since the epoch.
now_ms() {
    date +%s%3N
}

# The least time a wait's tail (the diagnostics and cleanup after it gave up) gets when it starts
# at or past the deadline: a wait thus ends by its deadline + GM_TAIL_MIN_SECONDS (+1 s should a
# kubectl have to be killed), whatever the API server does. 5 s: on a loaded 2-core machine one
# kubectl call can take 1-2 s, and the cleanup (freeing the GPU) keeps 3 s of it.
GM_TAIL_MIN_SECONDS=5

# begin_tail [CLEANUP_SECONDS] — the wait is over (it gave up): from here on, the `kube` calls share
# the time left until tail_end_ms = max(deadline, now + GM_TAIL_MIN_SECONDS), each call bounded by
# what is left (a call with no time left is not made), and the last CLEANUP_SECONDS of it (default
# 0) are kept for begin_cleanup, so the diagnostics can never take the cleanup's time. A second
# call keeps the tail's end (only the cleanup slice is set again).
begin_tail() {
    local now min
    if [ -n "${tail_end_ms:-}" ]; then
        kube_end_ms=$((tail_end_ms - ${1:-0} * 1000))
        return 0
    fi
    now=$(now_ms)
    tail_end_ms=$((deadline * 1000))
    min=$((now + GM_TAIL_MIN_SECONDS * 1000))
    if [ "$tail_end_ms" -lt "$min" ]; then tail_end_ms=$min; fi
    kube_end_ms=$((tail_end_ms - ${1:-0} * 1000))
}

# begin_cleanup — the tail's last slice: `kube` calls may now use all the time left until tail_end_ms.
begin_cleanup() {
    kube_end_ms=$tail_end_ms
}

# kube ARGS... — kubectl on this cluster only (the kubeconfig from kubeconfig_from_env, never the
# ambient context), each call bounded by 10 s and by the step's deadline; in a wait's tail
# (begin_tail) by the tail's end instead, to the millisecond, and not made at all (exit 124, a note
# on stderr) when less than 0.3 s is left.
kube() {
    local b ms
    if [ -n "${kube_end_ms:-}" ]; then
        ms=$((kube_end_ms - $(now_ms)))
        if [ "$ms" -gt 10000 ]; then ms=10000; fi
        if [ "$ms" -lt 300 ]; then
            printf 'not asked: no time was left before the deadline\n' >&2
            return 124
        fi
        b=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
        timeout --kill-after=1 "$b" kubectl --kubeconfig "$GM_KUBECONFIG_FILE" --request-timeout="${b}s" "$@"
        return
    fi
    b=$(budget 10)
    with_deadline "$b" kubectl --kubeconfig "$GM_KUBECONFIG_FILE" --request-timeout="${b}s" "$@"
}

# version_ge A B — A >= B for versions like v1.37.0.
version_ge() {
    local a b i
    IFS=. read -r -a a <<<"${1#v}"
    IFS=. read -r -a b <<<"${2#v}"
    for i in 0 1 2; do
        if [ "$((10#${a[i]:-0}))" -gt "$((10#${b[i]:-0}))" ]; then return 0; fi
        if [ "$((10#${a[i]:-0}))" -lt "$((10#${b[i]:-0}))" ]; then return 1; fi
    done
    return 0
}
