#!/usr/bin/env bash
# shellcheck disable=SC2034 # the globals set here (DOCKER_*, WAIT_*, GM_*) are read by the sourcing scripts
# Docker helpers shared by the host-prep scripts (preflight, configure/restore runtime, GPU check).
# Sourced after lib/common.sh, never run. Every docker call here has a deadline.
#
# Host paths, overridable by environment for tests ONLY (the Pulumi program never sets them):
#   GM_DOCKER_DAEMON_JSON  Docker's daemon config file          (default /etc/docker/daemon.json)
#   GM_HOST_STATE_DIR      where gpu-minikube keeps its host-wide records and backups (default
#                          /var/lib/gpu-minikube; root-owned). Not GM_STATE_DIR: that is the per-user
#                          notes dir of the cluster scripts (lib/common.sh, default ~/.gpu-minikube), and
#                          one name with two defaults would put both in one place when it is set.
#   GM_PROC_DIR            procfs, read for WSL2, PID 1 and net.core.bpf_jit_harden (default /proc)
#   GM_RUN_DIR             /run, read for systemd detection      (default /run)
#   GM_DOCKER_LOG_FILE     dockerd's log on hosts without systemd (default /var/log/docker.log)
#   GM_CDI_SPEC_DIR        where the NVIDIA CDI spec is written (default /etc/cdi, as `nvidia-ctk cdi
#                          generate` and Docker's default CDI spec dirs /etc/cdi, /var/run/cdi have it)

GM_DOCKER_DAEMON_JSON="${GM_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}"
GM_HOST_STATE_DIR="${GM_HOST_STATE_DIR:-/var/lib/gpu-minikube}"
GM_PROC_DIR="${GM_PROC_DIR:-/proc}"
GM_RUN_DIR="${GM_RUN_DIR:-/run}"
GM_DOCKER_LOG_FILE="${GM_DOCKER_LOG_FILE:-/var/log/docker.log}"
GM_CDI_SPEC_DIR="${GM_CDI_SPEC_DIR:-/etc/cdi}"

# Seconds one `docker info` / `docker version` may take before we call the daemon unresponsive
# (optional input; preflight sets it from GM_PREFLIGHT_CALL_SECONDS).
GM_DOCKER_CALL_SECONDS="${GM_DOCKER_CALL_SECONDS:-10}"

# What we record about our daemon.json change, so destroy can undo exactly that (see record_* below).
GM_RUNTIME_RECORD_DIR="${GM_HOST_STATE_DIR}/docker-runtime"

# Where Docker Desktop keeps the runtime setting (its UI writes its own daemon.json).
GM_DESKTOP_FIX="open Docker Desktop → Settings → Docker Engine, add \"runtimes\": {\"nvidia\": {\"path\": \"nvidia-container-runtime\", \"args\": []}} to the JSON, then Apply & restart (on WSL2 also enable Settings → Resources → WSL integration for this distro)"

# validate_host_paths — the overridable host paths must be plain absolute paths.
validate_host_paths() {
    require_path GM_DOCKER_DAEMON_JSON
    require_path GM_HOST_STATE_DIR
    require_path GM_PROC_DIR
    require_path GM_RUN_DIR
    require_path GM_DOCKER_LOG_FILE
    require_path GM_CDI_SPEC_DIR
    require_uint GM_DOCKER_CALL_SECONDS 1 300
}

# docker_info — one bounded `docker info`. On success (0) sets DOCKER_SERVER_VERSION, DOCKER_OS,
# DOCKER_RUNTIMES (JSON object), DOCKER_ROOT_DIR, DOCKER_SECURITY_OPTIONS (JSON array). On failure
# returns 1 (or 124 on timeout) and sets DOCKER_INFO_ERROR to the CLI's own error line: with
# --format, old CLIs hide the connection error behind a template error, so we ask `docker version`.
docker_info() {
    local out err rc=0
    DOCKER_INFO_ERROR=""
    err=$(mktemp)
    out=$(with_deadline "$GM_DOCKER_CALL_SECONDS" docker info --format \
        '{{.ServerVersion}}{{"\n"}}{{.OperatingSystem}}{{"\n"}}{{json .Runtimes}}{{"\n"}}{{.DockerRootDir}}{{"\n"}}{{json .SecurityOptions}}' \
        2>"$err") || rc=$?
    local lines=()
    mapfile -t lines <<<"$out"
    DOCKER_SERVER_VERSION="${lines[0]:-}"
    DOCKER_OS="${lines[1]:-}"
    DOCKER_RUNTIMES="${lines[2]:-}"
    DOCKER_ROOT_DIR="${lines[3]:-}"
    DOCKER_SECURITY_OPTIONS="${lines[4]:-}"
    if [ "$rc" -eq 0 ] && [ -n "$DOCKER_SERVER_VERSION" ]; then
        rm -f "$err"
        return 0
    fi
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        DOCKER_INFO_ERROR="docker info did not answer within ${GM_DOCKER_CALL_SECONDS}s"
        rm -f "$err"
        return 124
    fi
    local verr vrc=0
    verr=$(with_deadline "$GM_DOCKER_CALL_SECONDS" docker version --format '{{.Server.Version}}' 2>&1 >/dev/null) || vrc=$?
    if [ "$vrc" -eq 124 ] || [ "$vrc" -eq 137 ]; then
        DOCKER_INFO_ERROR="docker version did not answer within ${GM_DOCKER_CALL_SECONDS}s"
    else
        DOCKER_INFO_ERROR=$(first_line "${verr}"$'\n'"$(cat "$err")")
    fi
    rm -f "$err"
    [ -n "$DOCKER_INFO_ERROR" ] || DOCKER_INFO_ERROR="docker info failed (exit ${rc}) without a message"
    return 1
}

# docker_unreachable_fix — the fix for the DOCKER_INFO_ERROR that docker_info left.
docker_unreachable_fix() {
    case "$DOCKER_INFO_ERROR" in
        *"permission denied"*)
            printf '%s' "let this user use Docker: sudo usermod -aG docker \"\$USER\", then log out and in (or run 'newgrp docker')" ;;
        *"did not answer"*)
            printf '%s' "Docker is hung: check 'sudo systemctl status docker' and 'sudo journalctl -u docker -n 50', then 'sudo systemctl restart docker'" ;;
        *)
            printf '%s' "start Docker: 'sudo systemctl start docker' (no systemd: 'sudo service docker start'; Docker Desktop: start the app), then check 'docker info'" ;;
    esac
}

# docker_endpoint — the daemon this user's docker CLI talks to: DOCKER_HOST, else the current context's
# endpoint (`docker context inspect` honours both). The Pulumi docker provider is pointed at the same one.
docker_endpoint() {
    local ep="" ctx="${DOCKER_CONTEXT:-}"
    if [ -n "${DOCKER_HOST:-}" ]; then
        printf '%s' "$DOCKER_HOST"
        return 0
    fi
    # No context chosen (DOCKER_CONTEXT, or currentContext in the CLI's config.json): the default
    # socket, without starting the CLI (as the CLI resolves it: docker/cli cli/command/cli.go).
    if [ -z "$ctx" ]; then
        ctx=$(sed -n 's/.*"currentContext"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "${DOCKER_CONFIG:-$HOME/.docker}/config.json" 2>/dev/null | sed -n 1p) || ctx=""
    fi
    if [ -z "$ctx" ] || [ "$ctx" = default ]; then
        printf 'unix:///var/run/docker.sock'
        return 0
    fi
    ep=$(with_deadline "$GM_DOCKER_CALL_SECONDS" docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null | sed -n 1p) || ep=""
    printf '%s' "${ep:-unix:///var/run/docker.sock}"
}

# docker_cdi_enabled — the running daemon resolves CDI devices: `docker info` lists CDI spec dirs only
# when its CDI feature is on (Docker ≥ 25 with features.cdi; on by default since 28.2). Older daemons
# leave the field empty.
# Sets DOCKER_CDI_SPEC_DIRS to the list as `docker info` printed it (a JSON array, or empty).
docker_cdi_enabled() {
    DOCKER_CDI_SPEC_DIRS=""
    DOCKER_CDI_SPEC_DIRS=$(with_deadline "$GM_DOCKER_CALL_SECONDS" docker info --format '{{json .CDISpecDirs}}' 2>/dev/null) || return 1
    [[ "$DOCKER_CDI_SPEC_DIRS" == *'"/'* ]]
}

# docker_cdi_reads_spec_dir — after docker_cdi_enabled: GM_CDI_SPEC_DIR, where the NVIDIA spec is
# written, is one of the daemon's CDI spec dirs. Docker's default is ["/etc/cdi","/var/run/cdi"];
# a daemon.json "cdi-spec-dirs" (or --cdi-spec-dir) replaces it, and a spec elsewhere is never read.
docker_cdi_reads_spec_dir() {
    [[ "$DOCKER_CDI_SPEC_DIRS" == *"\"${GM_CDI_SPEC_DIR%/}\""* || "$DOCKER_CDI_SPEC_DIRS" == *"\"${GM_CDI_SPEC_DIR%/}/\""* ]]
}

# cdi_spec_dir_fix — how to make Docker read GM_CDI_SPEC_DIR (for errors).
cdi_spec_dir_fix() {
    printf '%s' "add \"${GM_CDI_SPEC_DIR}\" to \"cdi-spec-dirs\" in Docker's daemon.json (or remove that setting: Docker's default, [\"/etc/cdi\", \"/var/run/cdi\"], includes /etc/cdi) and restart Docker ('sudo systemctl restart docker')"
}

# docker_version_ge VERSION MIN — Docker's version (e.g. 20.10.24+dfsg1, 28.2.2) is at least MIN.
docker_version_ge() {
    local v
    v=$(grep -oE '^[0-9]+(\.[0-9]+){0,2}' <<<"$1") || return 1
    version_ge "$v" "$2"
}

# runtimes_have_nvidia RUNTIMES_JSON — whether Docker's runtimes include `nvidia`.
runtimes_have_nvidia() {
    [[ "$1" == *'"nvidia":'* ]]
}

# is_docker_desktop — whether the daemon docker_info saw is Docker Desktop.
is_docker_desktop() {
    [[ "$DOCKER_OS" == "Docker Desktop"* ]]
}

# host_has_systemd — systemd is PID 1 (sd_booted(): /run/systemd/system exists; or PID 1 is named
# systemd) and systemctl exists. WSL2 without systemd=true in /etc/wsl.conf has neither.
host_has_systemd() {
    command -v systemctl >/dev/null 2>&1 || return 1
    [ -d "${GM_RUN_DIR}/systemd/system" ] && return 0
    local comm=""
    comm=$(cat "${GM_PROC_DIR}/1/comm" 2>/dev/null) || true
    [ "$comm" = "systemd" ]
}

# docker_restart_command — prints the restart command this host uses (for messages).
docker_restart_command() {
    if host_has_systemd; then
        printf 'sudo systemctl restart docker'
    else
        printf 'sudo service docker restart'
    fi
}

# restart_docker SECONDS — restarts Docker through its service manager, bounded by SECONDS.
# Returns the manager's status (124 on timeout); its output goes to stderr.
restart_docker() {
    local seconds="$1" rc=0
    if host_has_systemd; then
        log "restarting Docker: systemctl restart docker"
        as_root timeout --kill-after=5 "$seconds" systemctl restart docker >&2 || rc=$?
    elif command -v service >/dev/null 2>&1; then
        log "restarting Docker: service docker restart (no systemd on this host)"
        as_root timeout --kill-after=5 "$seconds" service docker restart >&2 || rc=$?
    else
        fail "cannot restart Docker" "neither systemd (PID 1) nor the 'service' command" \
            "restart the Docker daemon yourself, then re-run 'pulumi up'"
    fi
    return "$rc"
}

# docker_daemon_logs — dockerd's last log lines, for errors (journald with systemd, else its log file).
docker_daemon_logs() {
    local out=""
    if host_has_systemd && command -v journalctl >/dev/null 2>&1; then
        out=$(with_deadline 5 journalctl -u docker -n 20 --no-pager 2>/dev/null) || true
        if [ -z "$out" ] && [ "$(id -u)" -ne 0 ] && sudo -n true 2>/dev/null; then
            out=$(with_deadline 5 sudo -n journalctl -u docker -n 20 --no-pager 2>/dev/null) || true
        fi
        printf 'journalctl -u docker -n 20:\n%s\n' "${out:-  (no journal lines; try 'sudo journalctl -u docker -n 50')}"
    elif [ -r "$GM_DOCKER_LOG_FILE" ]; then
        printf '%s (last 20 lines):\n%s\n' "$GM_DOCKER_LOG_FILE" "$(tail -n 20 "$GM_DOCKER_LOG_FILE")"
    else
        printf 'no daemon log found (no systemd journal, %s not readable)\n' "$GM_DOCKER_LOG_FILE"
    fi
}

# show_daemon_logs — prints docker_daemon_logs on stderr, indented, before an error line.
show_daemon_logs() {
    local logs
    logs=$(docker_daemon_logs)
    log "Docker daemon's last log lines, $(first_line "$logs")"
    printf '%s\n' "$logs" | tail -n +2 | sed '/^[[:space:]]*$/d' | sed 's/^/  | /' >&2
}

# wait_docker_ready DEADLINE_EPOCH EXPECT_NVIDIA — after a restart, polls `docker info` until it
# answers (and, when EXPECT_NVIDIA is true, lists the nvidia runtime) or DEADLINE_EPOCH passes.
# Returns 0 when ready, 2 when Docker answered but without the nvidia runtime (no point waiting:
# the config is loaded), 1 on timeout. Leaves the last thing it saw in WAIT_LAST_SEEN.
wait_docker_ready() {
    local deadline="$1" remaining
    WAIT_EXPECT_NVIDIA="$2"
    WAIT_LAST_SEEN="nothing yet"
    WAIT_NO_NVIDIA=0
    remaining=$((deadline - $(date +%s)))
    [ "$remaining" -ge 1 ] || remaining=1
    # Polls four times a second (a restart takes about one), one progress line per second.
    local start now elapsed shown=-1
    start=$(date +%s)
    until _docker_ready_poll; do
        now=$(date +%s)
        elapsed=$((now - start))
        # Progress first, so even a deadline spent by one slow poll leaves a line saying what was awaited.
        if [ "$elapsed" -ne "$shown" ]; then
            log "waiting for Docker to answer 'docker info' (${elapsed}s of ${remaining}s)"
            shown="$elapsed"
        fi
        if [ "$elapsed" -ge "$remaining" ]; then
            log "gave up waiting for Docker to answer 'docker info' after ${elapsed}s (deadline ${remaining}s)"
            return 1
        fi
        sleep 0.25
    done
    [ "$WAIT_NO_NVIDIA" -eq 0 ] || return 2
    log "Docker ${DOCKER_SERVER_VERSION} is back; runtimes: ${DOCKER_RUNTIMES}"
    return 0
}

# _docker_ready_poll — one poll of wait_docker_ready.
_docker_ready_poll() {
    if docker_info; then
        if [ "$WAIT_EXPECT_NVIDIA" = "true" ] && ! runtimes_have_nvidia "$DOCKER_RUNTIMES"; then
            WAIT_LAST_SEEN="Docker ${DOCKER_SERVER_VERSION} answered; runtimes ${DOCKER_RUNTIMES}"
            WAIT_NO_NVIDIA=1
        fi
        return 0
    fi
    WAIT_LAST_SEEN="$DOCKER_INFO_ERROR"
    return 1
}

# file_sha256 FILE — sha256 of FILE's bytes (read as root when the user cannot read it).
file_sha256() {
    if [ -r "$1" ]; then
        sha256sum <"$1" | cut -d' ' -f1
    else
        as_root cat "$1" | sha256sum | cut -d' ' -f1
    fi
}

# root_write FILE — writes stdin to FILE as root (creating it 0644).
root_write() {
    as_root tee "$1" >/dev/null
}

# replace_file SOURCE DEST — as root, replaces the existing DEST's bytes with SOURCE's atomically
# (staged next to it, then renamed), keeping DEST's owner and mode; a symlinked DEST keeps its link.
replace_file() {
    local dest staged
    dest=$(readlink -f "$2")
    staged="${dest}.gpu-minikube.tmp"
    as_root cp -p "$dest" "$staged"
    as_root cp "$1" "$staged"
    as_root mv -f "$staged" "$dest"
}

# record_get NAME — a value of the recorded daemon.json change ("" when absent).
record_get() {
    cat "${GM_RUNTIME_RECORD_DIR}/$1" 2>/dev/null || true
}

# record_exists — whether a daemon.json change is recorded.
record_exists() {
    [ -f "${GM_RUNTIME_RECORD_DIR}/written.sha256" ]
}

# record_archive WHY — moves the current record aside (never deletes a backup), prints the new path.
record_archive() {
    local dest
    dest="${GM_RUNTIME_RECORD_DIR}.$1-$(date +%Y%m%dT%H%M%S)"
    as_root mv "$GM_RUNTIME_RECORD_DIR" "$dest"
    printf '%s' "$dest"
}

# --- who relies on the recorded changes (two stacks on one host) ---
# Every stack whose runtime step relies on a change gpu-minikube recorded on this host (the daemon.json
# edit, the CDI spec) has a file users/<owner> in $GM_HOST_STATE_DIR. Destroy removes its own file and undoes
# the recorded changes only when no other stack's file is left, so destroying one stack never pulls the
# runtime (and restarts Docker) under another stack's running cluster.
GM_USERS_DIR="${GM_HOST_STATE_DIR}/users"
# The CDI spec we wrote, recorded like the daemon.json change (target, before, written.sha256, backup).
GM_CDI_RECORD_DIR="${GM_HOST_STATE_DIR}/cdi-spec"

# require_owner — GM_OWNER names this stack (project.stack.<hash of the checkout>); a file name.
require_owner() {
    require_env GM_OWNER
    require_match GM_OWNER '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' "up to 128 letters, digits, '.', '_' or '-'"
}

# any_record_exists — gpu-minikube recorded a host change that someone may rely on.
any_record_exists() {
    record_exists || [ -f "${GM_CDI_RECORD_DIR}/written.sha256" ]
}

# users_list — the stacks registered as relying on the recorded changes, comma-separated.
users_list() {
    local f out=""
    [ -d "$GM_USERS_DIR" ] || return 0
    for f in "$GM_USERS_DIR"/*; do
        [ -f "$f" ] || continue
        out+="${out:+,}$(basename "$f")"
    done
    printf '%s' "$out"
}

# user_register OWNER — records that OWNER relies on the recorded changes (idempotent).
user_register() {
    [ -f "${GM_USERS_DIR}/$1" ] && return 0
    as_root mkdir -p "$GM_USERS_DIR"
    date -u +%Y-%m-%dT%H:%M:%SZ | root_write "${GM_USERS_DIR}/$1"
}

# user_registered OWNER — OWNER's file exists.
user_registered() {
    [ -f "${GM_USERS_DIR}/$1" ]
}

# user_unregister OWNER — removes OWNER's file (and the dir once empty).
user_unregister() {
    [ -f "${GM_USERS_DIR}/$1" ] || return 0
    as_root rm -f "${GM_USERS_DIR}/$1"
    as_root rmdir "$GM_USERS_DIR" 2>/dev/null || true
}

# cdi_spec_file — where the NVIDIA CDI spec lives.
cdi_spec_file() {
    printf '%s/nvidia.yaml' "$GM_CDI_SPEC_DIR"
}

# cdi_spec_usable — some spec in GM_CDI_SPEC_DIR defines nvidia.com/gpu=all (as `nvidia-ctk cdi list` reads it).
cdi_spec_usable() {
    [ -d "$GM_CDI_SPEC_DIR" ] || return 1
    with_deadline 20 nvidia-ctk cdi list --spec-dir "$GM_CDI_SPEC_DIR" 2>/dev/null | grep -x 'nvidia.com/gpu=all' >/dev/null
}
