#!/usr/bin/env bash
# Host prep, step 3: Docker's `nvidia` runtime. `docker info` already lists it → nothing changes and
# Docker is not restarted (a restart stops a running minikube). Otherwise:
#   1. the current daemon.json is copied to a temp file and the real `nvidia-ctk runtime configure
#      --runtime=docker` edits that copy, so a malformed daemon.json is reported and never touched;
#   2. the pre-change file (or the fact that there was none) is recorded in $GM_STATE_DIR/docker-runtime
#      together with the sha256 of what we write, for restore-docker-runtime.sh;
#   3. the result replaces daemon.json atomically (same owner and mode);
#   4. Docker is restarted (systemctl with systemd as PID 1, else `service`), and we wait (deadline
#      GM_TIMEOUT_SECONDS, a progress line per second) until `docker info` answers and lists nvidia.
# Docker Desktop: its daemon config lives in its UI; we never touch /etc/docker/daemon.json there and
# fail with the steps to add the runtime in Docker Desktop if it is missing.
#
# Inputs (environment):
#   GM_CONFIGURE_DOCKER  true | false   false: change nothing (summary "skipped": true)
#   GM_TIMEOUT_SECONDS   1..3600        deadline for the restart and for Docker to come back
# Host paths overridable for tests only: GM_DOCKER_DAEMON_JSON, GM_STATE_DIR, GM_PROC_DIR, GM_RUN_DIR,
# GM_DOCKER_LOG_FILE (see lib/docker.sh).
# Summary (last stdout line): {"stage":"docker-runtime","changed":bool,"restarted":bool,"skipped":bool,
# "daemonJson":"/etc/docker/daemon.json","backup":"<path>"|null}
set -euo pipefail
GM_STAGE=docker-runtime
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"

require_bool GM_CONFIGURE_DOCKER
require_uint GM_TIMEOUT_SECONDS 1 3600
validate_host_paths
TARGET="$GM_DOCKER_DAEMON_JSON"
started=$(date +%s)
deadline=$((started + 10#$GM_TIMEOUT_SECONDS))

summary() {
    printf '{"stage":"docker-runtime","changed":%s,"restarted":%s,"skipped":%s,"daemonJson":%s,"backup":%s}\n' \
        "$1" "$2" "$3" "$(json_str "$TARGET")" "$(json_str_or_null "${4:-}")"
}

# recorded_backup — the backup of our recorded change, when daemon.json still holds what we wrote.
recorded_backup() {
    if record_exists && [ "$(record_get target)" = "$TARGET" ] && [ -f "$TARGET" ] &&
        [ "$(file_sha256 "$TARGET")" = "$(record_get written.sha256)" ] && [ "$(record_get before)" = "present" ]; then
        printf '%s' "${GM_RUNTIME_RECORD_DIR}/daemon.json.orig"
    fi
}

if [ "$GM_CONFIGURE_DOCKER" != true ]; then
    if docker_info && ! runtimes_have_nvidia "$DOCKER_RUNTIMES"; then
        log "warning: configureDocker is false and Docker lists no nvidia runtime; GPU containers will fail until it is added"
    fi
    log "configureDocker is false; leaving Docker's configuration alone"
    summary false false true ""
    exit 0
fi

rc=0
docker_info || rc=$?
if [ "$rc" -ne 0 ]; then
    fail "Docker daemon not reachable" "$DOCKER_INFO_ERROR" "$(docker_unreachable_fix)"
fi
if runtimes_have_nvidia "$DOCKER_RUNTIMES"; then
    log "Docker ${DOCKER_SERVER_VERSION} already lists the nvidia runtime; no change, no restart"
    summary false false false "$(recorded_backup)"
    exit 0
fi
if is_docker_desktop; then
    fail "Docker Desktop lists no nvidia runtime (its daemon config is set in its UI, not ${TARGET})" \
        "docker info: OperatingSystem=${DOCKER_OS}, runtimes ${DOCKER_RUNTIMES}" "$GM_DESKTOP_FIX"
fi
if ! command -v nvidia-ctk >/dev/null 2>&1; then
    fail "nvidia-ctk not found" "no nvidia-ctk on PATH (the NVIDIA Container Toolkit is not installed)" \
        "set installToolkit: true, or install the toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html)"
fi
require_root_access "configuring Docker's nvidia runtime (${TARGET}) and restarting Docker"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. nvidia-ctk edits a copy. An empty (or blank) file is read as no config, as Docker does.
existed=false
cur_sha=""
if [ -e "$TARGET" ]; then
    [ -f "$TARGET" ] || fail "${TARGET} is not a regular file" "$(stat -c %F "$TARGET" 2>/dev/null || echo unknown)" \
        "make ${TARGET} a regular file (or remove it), then re-run"
    existed=true
    if [ -r "$TARGET" ]; then cat "$TARGET" >"$tmp/current.json"; else as_root cat "$TARGET" >"$tmp/current.json"; fi
    cur_sha=$(sha256sum <"$tmp/current.json" | cut -d' ' -f1)
    if grep -q '[^[:space:]]' "$tmp/current.json"; then
        cp "$tmp/current.json" "$tmp/new.json"
    fi
fi
ctk_rc=0
ctk_out=$(with_deadline 30 nvidia-ctk runtime configure --runtime=docker --config="$tmp/new.json" 2>&1) || ctk_rc=$?
if [ "$ctk_rc" -ne 0 ] || [ ! -s "$tmp/new.json" ]; then
    why=$(printf '%s\n' "$ctk_out" | grep -iE 'error|unable|invalid' | tail -n 1) || why=$(first_line "$ctk_out")
    why=$(sed -e 's/^time="[^"]*" level=[a-z]* msg="//' -e 's/"$//' <<<"${why:-nvidia-ctk exited ${ctk_rc}}")
    if [ "$existed" = true ]; then
        fail "${TARGET} is not valid JSON; it was left untouched" "nvidia-ctk: ${why}" \
            "fix the file (check it with 'python3 -m json.tool ${TARGET}') or move it away, then re-run"
    fi
    fail "nvidia-ctk could not write a Docker config" "nvidia-ctk: ${why}" \
        "run 'nvidia-ctk runtime configure --runtime=docker --config=/tmp/test.json' to see why"
fi
new_sha=$(sha256sum <"$tmp/new.json" | cut -d' ' -f1)

changed=false
backup=""
if [ "$existed" = true ] && [ "$new_sha" = "$cur_sha" ]; then
    # The file already has the runtime (e.g. configured but Docker not restarted since): restart only.
    log "${TARGET} already has the nvidia runtime; Docker was not restarted since, so restarting it"
    backup=$(recorded_backup)
else
    # 2. Record what was there before we change anything. A record left from an earlier change that
    # no longer matches the file is moved aside, never overwritten (it holds an older backup).
    if record_exists; then
        old=$(record_archive superseded)
        log "an older gpu-minikube record did not match ${TARGET}; kept it at ${old}"
    fi
    as_root mkdir -p "$GM_RUNTIME_RECORD_DIR"
    if [ "$existed" = true ]; then
        backup="${GM_RUNTIME_RECORD_DIR}/daemon.json.orig"
        as_root cp -p "$TARGET" "$backup"
        if [ "$(file_sha256 "$backup")" != "$cur_sha" ]; then
            fail "could not back up ${TARGET}" "the copy at ${backup} differs from the original" \
                "check free space and permissions of ${GM_STATE_DIR}, then re-run"
        fi
        printf 'present\n' | root_write "${GM_RUNTIME_RECORD_DIR}/before"
    else
        printf 'absent\n' | root_write "${GM_RUNTIME_RECORD_DIR}/before"
    fi
    printf '%s\n' "$TARGET" | root_write "${GM_RUNTIME_RECORD_DIR}/target"
    printf '%s\n' "$new_sha" | root_write "${GM_RUNTIME_RECORD_DIR}/written.sha256"
    date -u +%Y-%m-%dT%H:%M:%SZ | root_write "${GM_RUNTIME_RECORD_DIR}/created"

    # 3. Replace daemon.json atomically (through a symlink, if it is one), keeping its owner and mode.
    if [ "$existed" = true ]; then
        replace_file "$tmp/new.json" "$TARGET"
    else
        as_root mkdir -p "$(dirname "$TARGET")"
        as_root install -m 0644 "$tmp/new.json" "${TARGET}.gpu-minikube.tmp"
        as_root mv -f "${TARGET}.gpu-minikube.tmp" "$TARGET"
    fi
    if [ "$(file_sha256 "$TARGET")" != "$new_sha" ]; then
        fail "writing ${TARGET} did not stick" "its sha256 differs from what nvidia-ctk produced" \
            "check the file system (read-only? full?) and restore it from ${backup:-nothing (it did not exist)}"
    fi
    changed=true
    log "added the nvidia runtime to ${TARGET} (pre-change state recorded in ${GM_RUNTIME_RECORD_DIR})"
fi

# How to undo by hand, for error messages.
if [ -n "$backup" ]; then
    undo="sudo cp -p ${backup} ${TARGET} && $(docker_restart_command)"
elif [ "$existed" = false ]; then
    undo="sudo rm ${TARGET} && $(docker_restart_command)"
else
    undo="fix ${TARGET} and run '$(docker_restart_command)'"
fi

# 4. Restart and wait.
remaining=$((deadline - $(date +%s)))
[ "$remaining" -ge 1 ] || remaining=1
rc=0
restart_docker "$remaining" || rc=$?
if [ "$rc" -ne 0 ]; then
    show_daemon_logs
    fail "Docker did not restart after adding the nvidia runtime" \
        "'$(docker_restart_command)' exited ${rc}$([ "$rc" -eq 124 ] && printf ' (deadline %ss)' "$GM_TIMEOUT_SECONDS")" \
        "read the daemon log above; to go back to the previous config: ${undo}"
fi
rc=0
wait_docker_ready "$deadline" true || rc=$?
if [ "$rc" -eq 2 ]; then
    fail "Docker restarted but still lists no nvidia runtime" "$WAIT_LAST_SEEN" \
        "Docker does not read ${TARGET}: check its --config-file ('ps -o args= -C dockerd'); snap Docker reads /var/snap/docker/current/config/daemon.json"
elif [ "$rc" -ne 0 ]; then
    show_daemon_logs
    fail "Docker did not come back within ${GM_TIMEOUT_SECONDS}s after the restart" "last 'docker info': ${WAIT_LAST_SEEN}" \
        "read the daemon log above; to go back to the previous config: ${undo}; then 'docker info'"
fi
summary "$changed" true false "$backup"
