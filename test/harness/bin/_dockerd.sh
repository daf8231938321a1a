#!/usr/bin/env bash
# The simulated host's Docker daemon, driven by the stand-ins `systemctl`, `service`, `journalctl`,
# `docker` (and by test/harness/privateDocker.ts through `bash _dockerd.sh start|stop|...`).
#
# Two kinds of daemon, chosen by what is in $SIM_STATE:
#   real  $SIM_STATE/dockerd/conf exists (written by privateDocker.ts): a private dockerd with its own
#         data-root, exec-root, pidfile, socket and --config-file (the host's daemon.json; while that is
#         absent, an empty config, as dockerd does without the flag), --bridge=none, no iptables, in a
#         private mount namespace whose /run is a tmpfs (nothing of it lands in the host's /run or /etc). It is
#         started in its own session (setsid, stdio to its log) so it outlives the script that
#         restarted it; $SIM_STATE/dockerd/pids lists every PID it ever had (one line per start).
#         $SIM_STATE/dockerd/extra-args (one argument a line), when present, is appended to the next
#         starts: a bad flag there is "Docker does not come back after the restart".
#   stub  otherwise: no process; $SIM_STATE/docker/ holds what `docker info` shows. A "start" reads
#         the config file named in $SIM_STATE/docker/config-file (nvidia runtime present or not) and
#         registers the GPU driver when nvidia-container-runtime-hook is on PATH, as dockerd does;
#         $SIM_STATE/docker/broken-start makes starts fail.
# Sourced by the stand-ins; run directly: _dockerd.sh start [--wait] | stop | restart [--wait] | pid.

SIMD_DIR="${SIM_STATE:?}/dockerd"
SIMS_DIR="${SIM_STATE:?}/docker"

simd_is_real() {
    [ -f "$SIMD_DIR/conf" ]
}

simd_load() {
    # DOCKERD DOCKER_CLI DATA_ROOT EXEC_ROOT CONFIG_FILE SOCK PIDFILE LOG DAEMON_PATH [CDI_SPEC_DIR]
    # shellcheck source=/dev/null
    source "$SIMD_DIR/conf"
}

simd_pid() {
    cat "$SIMD_DIR/pid" 2>/dev/null || true
}

# running PID — the process exists and is not a zombie (the daemon is not our child: nobody here reaps it).
running() {
    local state
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# ours PID — PID runs and is one of this host's daemon processes (a recorded PID may have been reused).
ours() {
    running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -F "$EXEC_ROOT" >/dev/null
}

simd_alive() {
    local p
    simd_load
    p=$(simd_pid)
    [ -n "$p" ] && ours "$p"
}

simd_answers() {
    simd_load
    timeout 5 "$DOCKER_CLI" -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# simd_stop — SIGTERM, as systemd and the init script do, then up to 20 s for the daemon to finish
# its shutdown. dockerd lingers 1-3 s after logging "Daemon shutdown complete" (stopping its managed
# containerd); to keep the tests fast, once that line is logged and no container runs, the leftovers
# (dockerd, its containerd) are killed. A daemon that never logs it is SIGKILLed after the 20 s.
simd_stop() {
    local p i size ctd=""
    p=$(simd_pid)
    [ -n "$p" ] || return 0
    simd_load
    if ours "$p"; then
        size=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
        ctd=$(cat "$EXEC_ROOT/containerd/containerd.pid" 2>/dev/null || true)
        kill -TERM "$p" 2>/dev/null || true
        for ((i = 0; i < 400; i++)); do
            running "$p" || break
            if tail -c +"$((size + 1))" "$LOG" 2>/dev/null | grep 'Daemon shutdown complete' >/dev/null; then
                sleep 0.05
                kill -KILL "$p" 2>/dev/null || true
                break
            fi
            sleep 0.05
        done
        kill -KILL "$p" 2>/dev/null || true
        # Only the containerd of THIS daemon (its pidfile could name a PID reused since).
        if [ -n "$ctd" ] && [ "$ctd" != "$p" ] && ours "$ctd"; then
            kill -KILL "$ctd" 2>/dev/null || true
        else
            ctd=""
        fi
        for ((i = 0; i < 100; i++)); do
            running "$p" || { [ -n "$ctd" ] && running "$ctd"; } || break
            sleep 0.05
        done
    fi
    # A SIGKILLed dockerd leaves its pidfile, and the next one refuses to start while that PID exists
    # (nobody here reaps the zombie): remove it, as a clean exit would have.
    rm -f "$SIMD_DIR/pid" "$PIDFILE"
}

simd_start() {
    simd_load
    local extra=()
    if [ -f "$SIMD_DIR/extra-args" ]; then
        mapfile -t extra <"$SIMD_DIR/extra-args"
    fi
    # Docker >= 25 (CDI): the host's CDI dir in place of the real machine's /etc/cdi and /var/run/cdi.
    # A flag, not daemon.json's "cdi-spec-dirs", so the daemon.json under test stays the user's; the
    # CDI feature (on by default since 28.2) is still decided by daemon.json's "features".
    if [ -n "${CDI_SPEC_DIR:-}" ]; then
        extra=(--cdi-spec-dir "$CDI_SPEC_DIR" ${extra[@]+"${extra[@]}"})
    fi
    # dockerd fails when an explicit --config-file is missing, but a real host's daemon, started without
    # the flag, treats a missing /etc/docker/daemon.json as "no config": an empty object does the same.
    local config="$CONFIG_FILE"
    if [ ! -e "$config" ]; then
        config="$SIMD_DIR/no-daemon-json.json"
        printf '{}\n' >"$config"
    fi
    printf -- '--- start %s (config %s)\n' "$(date -u +%H:%M:%S.%N)" "$config" >>"$LOG"
    # New session, stdio detached: it must survive the script (and its process group) that restarted it.
    # Private mount namespace: dockerd 20.10 hard-codes /run/docker/plugins and its trust key
    # /etc/docker/key.json, containerd's shims /run/containerd/s. A tmpfs on /run and a private dir
    # bound on /etc/docker (the docker.io package ships that dir, so no mount point is created on the
    # real disk) keep all of it off the host. unshare and bash exec: the PID recorded is dockerd's.
    local unshare etc_docker="$DATA_ROOT/etc-docker"
    unshare=$(command -v unshare)
    mkdir -p "$etc_docker"
    # TMPDIR: containerd writes stack dumps there when dockerd kills it (SIGUSR1, then SIGKILL).
    mkdir -p "$DATA_ROOT/tmp"
    # shellcheck disable=SC2016 # the inner script expands its own variables
    setsid env -i PATH="$DAEMON_PATH" SIM_STATE="$SIM_STATE" HOME=/root TMPDIR="$DATA_ROOT/tmp" GM_SIM_ETC_DOCKER="$etc_docker" \
        "$unshare" --mount --propagation private \
        bash -c 'mount -t tmpfs -o mode=0755 gm-sim-run /run && mount --bind "$GM_SIM_ETC_DOCKER" /etc/docker && exec "$@"' private-mounts \
        "$DOCKERD" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
        -H "unix://$SOCK" --config-file "$config" \
        --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
        ${extra[@]+"${extra[@]}"} </dev/null >>"$LOG" 2>&1 &
    printf '%s\n' "$!" >"$SIMD_DIR/pid"
    printf '%s\n' "$!" >>"$SIMD_DIR/pids"
}

# simd_wait_ready SECONDS — until the daemon answers (0) or dies / the time is up (1).
simd_wait_ready() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        simd_answers && return 0
        simd_alive || return 1
        sleep 0.1
    done
    return 1
}

# --- stub daemon ---
stub_get() {
    cat "$SIMS_DIR/$1" 2>/dev/null || printf '%s' "$2"
}

stub_start() {
    mkdir -p "$SIMS_DIR"
    local pid config runtimes='{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}'
    pid=$(($(stub_get pid 1000) + 1))
    printf '%s\n' "$pid" >"$SIMS_DIR/pid"
    printf '%s\n' "$pid" >>"$SIMS_DIR/pids"
    if [ -f "$SIMS_DIR/broken-start" ]; then
        printf 'level=info msg="Starting up"\nfailed to start daemon: %s\n' "$(cat "$SIMS_DIR/broken-start")" >>"$SIMS_DIR/log"
        printf 'down\n' >"$SIMS_DIR/mode"
        return 1
    fi
    config=$(stub_get config-file "")
    if [ -n "$config" ] && grep -q '"nvidia"' "$config" 2>/dev/null; then
        runtimes='{"io.containerd.runc.v2":{"path":"runc"},"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}'
    fi
    printf '%s\n' "$runtimes" >"$SIMS_DIR/runtimes"
    # Docker ≥ 25 resolves CDI devices when daemon.json has "features": {"cdi": true}; `docker info`
    # then lists its spec dirs (on by default only from 28.2; the stub is older unless told otherwise).
    local major
    major=$(stub_get version 27.5.1)
    major="${major%%.*}"
    # The spec dirs are daemon.json's "cdi-spec-dirs" when set (moby daemon/config: CDISpecDirs), else
    # Docker's default ["/etc/cdi","/var/run/cdi"], its /etc/cdi being the simulated host's.
    local custom_dirs
    if [ "$major" -ge 25 ] && [ -n "$config" ] && tr -d '[:space:]' <"$config" 2>/dev/null | grep '"cdi":true' >/dev/null; then
        custom_dirs=$(tr -d '[:space:]' <"$config" | sed -n 's/.*"cdi-spec-dirs":\(\[[^]]*\]\).*/\1/p')
        if [ -n "$custom_dirs" ]; then
            printf '%s\n' "$custom_dirs" >"$SIMS_DIR/cdidirs"
        else
            printf '["%s","/var/run/cdi"]\n' "$(cat "$SIM_STATE/cdi-spec-dir" 2>/dev/null || echo /etc/cdi)" >"$SIMS_DIR/cdidirs"
        fi
    else
        printf 'null\n' >"$SIMS_DIR/cdidirs"
    fi
    if command -v nvidia-container-runtime-hook >/dev/null 2>&1; then
        printf '1\n' >"$SIMS_DIR/gpu-driver"
    else
        rm -f "$SIMS_DIR/gpu-driver"
    fi
    printf 'up\n' >"$SIMS_DIR/mode"
    printf 'level=info msg="Daemon has completed initialization"\nlevel=info msg="API listen on /run/docker.sock"\n' >>"$SIMS_DIR/log"
}

stub_stop() {
    mkdir -p "$SIMS_DIR"
    printf 'down\n' >"$SIMS_DIR/mode"
    printf 'level=info msg="Processing signal '"'"'terminated'"'"'"\n' >>"$SIMS_DIR/log"
}

# --- what the service managers call ---

# sim_docker_restart WAIT — restarts whichever daemon this host has. WAIT=1 behaves like systemd
# (Type=notify): returns 1 when the new daemon does not come up.
sim_docker_restart() {
    if simd_is_real; then
        simd_stop
        simd_start
        if [ "$1" = 1 ]; then simd_wait_ready 20 || return 1; fi
        return 0
    fi
    stub_stop
    stub_start
}

sim_docker_stop() {
    if simd_is_real; then simd_stop; else stub_stop; fi
}

sim_docker_start() {
    if simd_is_real; then
        simd_alive && return 0
        simd_start
        if [ "$1" = 1 ]; then simd_wait_ready 20 || return 1; fi
        return 0
    fi
    stub_start
}

sim_docker_active() {
    if simd_is_real; then simd_alive; else [ "$(stub_get mode up)" = up ]; fi
}

sim_docker_log() {
    if simd_is_real; then
        simd_load
        tail -n "$1" "$LOG" 2>/dev/null || true
    else
        tail -n "$1" "$SIMS_DIR/log" 2>/dev/null || true
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    export PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
    case "${1:-}" in
        start) simd_start; if [ "${2:-}" = --wait ]; then simd_wait_ready 30; fi ;;
        stop) simd_stop ;;
        restart) simd_stop; simd_start; if [ "${2:-}" = --wait ]; then simd_wait_ready 30; fi ;;
        pid) simd_pid ;;
        *) echo "usage: _dockerd.sh start [--wait] | stop | restart [--wait] | pid" >&2; exit 2 ;;
    esac
fi
