#!/usr/bin/env bash
# Host prep, step 3: Docker's `nvidia` runtime. `docker info` already lists it → nothing changes and
# Docker is not restarted (a restart stops a running minikube). Otherwise:
#   1. the current daemon.json is copied to a temp file and the real `nvidia-ctk runtime configure
#      --runtime=docker` edits that copy, so a malformed daemon.json is reported and never touched;
#   2. the pre-change file (or the fact that there was none) is recorded in $GM_HOST_STATE_DIR/docker-runtime
#      together with the sha256 of what we write, for restore-docker-runtime.sh;
#   3. the result replaces daemon.json atomically (same owner and mode);
#   4. Docker is restarted (systemctl with systemd as PID 1, else `service`), and we wait (deadline
#      GM_TIMEOUT_SECONDS, a progress line per second) until `docker info` answers and lists nvidia.
# For `minikube.gpus: nvidia.com` (CDI) the same steps also turn on Docker's CDI feature
# (`--cdi.enabled`: "features": {"cdi": true}), and a CDI spec defining nvidia.com/gpu=all is written with
# `nvidia-ctk cdi generate` to $GM_CDI_SPEC_DIR/nvidia.yaml when no spec there defines it (`nvidia-ctk cdi
# list`); an unusable spec we replace is backed up in $GM_HOST_STATE_DIR/cdi-spec.
# A toolkit installed by this run (GM_TOOLKIT_INSTALLED_AT) restarts Docker once even when daemon.json
# already names the runtime: dockerd registers its GPU driver (`--gpus`) only if the toolkit's hook was
# on its PATH when it started.
# Every stack that relies on a recorded change registers itself ($GM_HOST_STATE_DIR/users/<GM_OWNER>), so
# destroy undoes the changes only when the last such stack goes (restore-docker-runtime.sh).
# Docker Desktop: its daemon config lives in its UI; we never touch /etc/docker/daemon.json there and
# fail with the steps to add the runtime in Docker Desktop if it is missing.
#
# Inputs (environment):
#   GM_CONFIGURE_DOCKER  true | false   false: change nothing (summary "skipped": true)
#   GM_TIMEOUT_SECONDS   1..3600        deadline for the restart and for Docker to come back
#   GM_OWNER             this stack (project.stack.<checkout hash>), for the users record
#   GM_MINIKUBE_GPUS     all | nvidia | nvidia.com (default all); nvidia.com also sets up CDI
#   GM_TOOLKIT_INSTALLED_AT  optional: when the toolkit step installed the toolkit (epoch seconds), else empty
# Host paths overridable for tests only: GM_DOCKER_DAEMON_JSON, GM_HOST_STATE_DIR, GM_PROC_DIR, GM_RUN_DIR,
# GM_DOCKER_LOG_FILE, GM_CDI_SPEC_DIR (see lib/docker.sh).
# Summary (last stdout line): {"stage":"docker-runtime","changed":bool,"restarted":bool,"skipped":bool,
# "daemonJson":"/etc/docker/daemon.json","backup":"<path>"|null,"cdi":bool,"cdiSpec":"<path>"|null,
# "cdiSpecChanged":bool,"owner":"…","registered":bool,"users":["…"]}
set -euo pipefail
GM_STAGE=docker-runtime
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"

require_bool GM_CONFIGURE_DOCKER
require_uint GM_TIMEOUT_SECONDS 1 3600
require_owner
GM_MINIKUBE_GPUS="${GM_MINIKUBE_GPUS:-all}"
require_enum GM_MINIKUBE_GPUS all nvidia nvidia.com
GM_TOOLKIT_INSTALLED_AT="${GM_TOOLKIT_INSTALLED_AT:-}"
require_match GM_TOOLKIT_INSTALLED_AT '^[0-9]{0,12}$' "empty or epoch seconds"
validate_host_paths
TARGET="$GM_DOCKER_DAEMON_JSON"
CDI=false
[ "$GM_MINIKUBE_GPUS" != "nvidia.com" ] || CDI=true
SPEC=$(cdi_spec_file)
started=$(date +%s)
deadline=$((started + 10#$GM_TIMEOUT_SECONDS))
cdi_spec_changed=false
registered=false
# Where we note that Docker was restarted for a toolkit install, so a re-run does not restart again.
TOOLKIT_RESTART_MARK="${GM_HOST_STATE_DIR}/toolkit-restart"

# summary CHANGED RESTARTED SKIPPED [BACKUP]
summary() {
    local spec_json=null users_json
    [ "$CDI" = false ] || spec_json=$(json_str "$SPEC")
    users_json=$(IFS=,; read -r -a u <<<"$(users_list)"; json_str_array ${u[@]+"${u[@]}"})
    printf '{"stage":"docker-runtime","changed":%s,"restarted":%s,"skipped":%s,"daemonJson":%s,"backup":%s,"cdi":%s,"cdiSpec":%s,"cdiSpecChanged":%s,"owner":%s,"registered":%s,"users":%s}\n' \
        "$1" "$2" "$3" "$(json_str "$TARGET")" "$(json_str_or_null "${4:-}")" "$CDI" "$spec_json" "$cdi_spec_changed" \
        "$(json_str "$GM_OWNER")" "$registered" "$users_json"
}

# register — this stack relies on what gpu-minikube recorded here (if anything): note it, so another
# stack's destroy leaves the change in place.
register() {
    any_record_exists || return 0
    if user_registered "$GM_OWNER"; then
        registered=true
    elif can_root; then
        user_register "$GM_OWNER"
        registered=true
    else
        log "warning: could not note in ${GM_USERS_DIR} that this stack relies on gpu-minikube's Docker change (sudo asks for a password); run 'sudo -v' and 'pulumi up' again, or another stack's destroy may undo it"
    fi
}

# ensure_cdi_spec — CDI only: a spec defining nvidia.com/gpu=all in GM_CDI_SPEC_DIR, written with
# `nvidia-ctk cdi generate` when none there defines it (the one we replace is kept in the record).
ensure_cdi_spec() {
    [ "$CDI" = true ] || return 0
    if cdi_spec_usable; then
        log "a CDI spec in ${GM_CDI_SPEC_DIR} defines nvidia.com/gpu=all; not regenerating it"
        return 0
    fi
    local gen_rc=0 gen_out
    gen_out=$(with_deadline 60 nvidia-ctk cdi generate --output="$tmp/nvidia.yaml" 2>&1) || gen_rc=$?
    if [ "$gen_rc" -ne 0 ] || [ ! -s "$tmp/nvidia.yaml" ]; then
        fail "nvidia-ctk could not generate the CDI spec" "nvidia-ctk cdi generate: $(printf '%s\n' "$gen_out" | grep -iE 'error|fail' | tail -n 1 || first_line "$gen_out") (exit ${gen_rc})" \
            "run 'sudo nvidia-ctk cdi generate --output=${SPEC}' to see why (it needs the NVIDIA driver: check 'nvidia-smi'), or use minikube.gpus all"
    fi
    if [ -f "${GM_CDI_RECORD_DIR}/written.sha256" ]; then
        # Never overwrite a record: it may hold the backup of a spec that was there before us.
        as_root mv "$GM_CDI_RECORD_DIR" "${GM_CDI_RECORD_DIR}.superseded-$(date +%Y%m%dT%H%M%S)"
        log "an older gpu-minikube CDI record no longer matched ${SPEC}; kept it aside in ${GM_HOST_STATE_DIR}"
    fi
    as_root mkdir -p "$GM_CDI_RECORD_DIR" "$GM_CDI_SPEC_DIR"
    if [ -e "$SPEC" ]; then
        as_root cp -p "$SPEC" "${GM_CDI_RECORD_DIR}/nvidia.yaml.orig"
        printf 'present\n' | root_write "${GM_CDI_RECORD_DIR}/before"
    else
        printf 'absent\n' | root_write "${GM_CDI_RECORD_DIR}/before"
    fi
    printf '%s\n' "$SPEC" | root_write "${GM_CDI_RECORD_DIR}/target"
    sha256sum <"$tmp/nvidia.yaml" | cut -d' ' -f1 | root_write "${GM_CDI_RECORD_DIR}/written.sha256"
    as_root install -m 0644 "$tmp/nvidia.yaml" "${SPEC}.gpu-minikube.tmp"
    as_root mv -f "${SPEC}.gpu-minikube.tmp" "$SPEC"
    if ! cdi_spec_usable; then
        fail "the CDI spec nvidia-ctk wrote does not define nvidia.com/gpu=all" "'nvidia-ctk cdi list --spec-dir ${GM_CDI_SPEC_DIR}' does not list it" \
            "check 'nvidia-ctk cdi list' and 'nvidia-smi -L'; the previous spec (if any) is at ${GM_CDI_RECORD_DIR}/nvidia.yaml.orig"
    fi
    cdi_spec_changed=true
    log "wrote the CDI spec ${SPEC} (nvidia-ctk cdi generate; recorded in ${GM_CDI_RECORD_DIR})"
}

# toolkit_restart_due — the toolkit was installed by this run and Docker was not restarted since.
toolkit_restart_due() {
    [ -n "$GM_TOOLKIT_INSTALLED_AT" ] && [ "$(cat "$TOOLKIT_RESTART_MARK" 2>/dev/null || true)" != "$GM_TOOLKIT_INSTALLED_AT" ]
}

# mark_toolkit_restart — Docker has been restarted after the toolkit install GM_TOOLKIT_INSTALLED_AT.
mark_toolkit_restart() {
    [ -n "$GM_TOOLKIT_INSTALLED_AT" ] || return 0
    as_root mkdir -p "$GM_HOST_STATE_DIR"
    printf '%s\n' "$GM_TOOLKIT_INSTALLED_AT" | root_write "$TOOLKIT_RESTART_MARK"
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cdi_on=true
if [ "$CDI" = true ] && ! docker_cdi_enabled; then cdi_on=false; fi
# CDI on, but not reading the dir the spec goes to: no change of ours would fix it, so fail first.
if [ "$CDI" = true ] && [ "$cdi_on" = true ] && ! docker_cdi_reads_spec_dir; then
    fail "Docker does not read CDI specs from ${GM_CDI_SPEC_DIR}" "docker info: CDISpecDirs=${DOCKER_CDI_SPEC_DIRS}" "$(cdi_spec_dir_fix)"
fi
if runtimes_have_nvidia "$DOCKER_RUNTIMES" && [ "$cdi_on" = true ]; then
    if [ "$CDI" = true ] || toolkit_restart_due; then require_root_access "writing the CDI spec or restarting Docker"; fi
    ensure_cdi_spec
    if toolkit_restart_due; then
        # dockerd registers its GPU device driver only when the toolkit's hook is on its PATH at start
        # (moby daemon/nvidia_linux.go); Docker running since before this run's install lacks it.
        log "the NVIDIA Container Toolkit was installed by this run and Docker has not restarted since: restarting it so 'docker run --gpus' works"
        rc=0
        restart_docker "$(budget "$GM_TIMEOUT_SECONDS")" || rc=$?
        if [ "$rc" -ne 0 ]; then
            show_daemon_logs
            fail "Docker did not restart after the toolkit install" "'$(docker_restart_command)' exited ${rc}" "read the daemon log above, then '$(docker_restart_command)'"
        fi
        rc=0
        wait_docker_ready "$deadline" true || rc=$?
        if [ "$rc" -ne 0 ]; then
            show_daemon_logs
            fail "Docker did not come back within ${GM_TIMEOUT_SECONDS}s after the restart" "last 'docker info': ${WAIT_LAST_SEEN}" "read the daemon log above, then '$(docker_restart_command)'"
        fi
        mark_toolkit_restart
        register
        summary false true false "$(recorded_backup)"
        exit 0
    fi
    log "Docker ${DOCKER_SERVER_VERSION} already lists the nvidia runtime$([ "$CDI" = false ] || printf ' and resolves CDI devices'); no change, no restart"
    register
    summary false false false "$(recorded_backup)"
    exit 0
fi
if [ "$CDI" = true ] && ! docker_version_ge "$DOCKER_SERVER_VERSION" 25.0.0; then
    fail "minikube.gpus nvidia.com (CDI) needs Docker Engine 25 or newer" "Docker ${DOCKER_SERVER_VERSION}" \
        "upgrade Docker Engine (https://docs.docker.com/engine/install/), or use the NVIDIA runtime instead: pulumi config set --path minikube.gpus all"
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
ctk_args=(runtime configure --runtime=docker --config="$tmp/new.json")
# --cdi.enabled adds "features": {"cdi": true} (nvidia-container-toolkit v1.20.0 pkg/config/engine/docker EnableCDI).
[ "$CDI" = false ] || ctk_args+=(--cdi.enabled)
ctk_out=$(with_deadline 30 nvidia-ctk "${ctk_args[@]}" 2>&1) || ctk_rc=$?
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
                "check free space and permissions of ${GM_HOST_STATE_DIR}, then re-run"
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
    log "added the nvidia runtime$([ "$CDI" = false ] || printf ' and CDI') to ${TARGET} (pre-change state recorded in ${GM_RUNTIME_RECORD_DIR})"
fi
ensure_cdi_spec

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
if [ "$rc" -eq 0 ] && [ "$CDI" = true ] && ! docker_cdi_enabled; then
    fail "Docker restarted but does not resolve CDI devices" "docker info lists no CDI spec dirs (Docker ${DOCKER_SERVER_VERSION})" \
        "Docker must be 25 or newer and read ${TARGET} (\"features\": {\"cdi\": true}); check 'docker info' and its --config-file ('ps -o args= -C dockerd')"
fi
if [ "$rc" -eq 0 ] && [ "$CDI" = true ] && ! docker_cdi_reads_spec_dir; then
    fail "Docker restarted with CDI on but does not read CDI specs from ${GM_CDI_SPEC_DIR}" "docker info: CDISpecDirs=${DOCKER_CDI_SPEC_DIRS}" "$(cdi_spec_dir_fix)"
fi
if [ "$rc" -eq 2 ]; then
    fail "Docker restarted but still lists no nvidia runtime" "$WAIT_LAST_SEEN" \
        "Docker does not read ${TARGET}: check its --config-file ('ps -o args= -C dockerd'); snap Docker reads /var/snap/docker/current/config/daemon.json"
elif [ "$rc" -ne 0 ]; then
    show_daemon_logs
    fail "Docker did not come back within ${GM_TIMEOUT_SECONDS}s after the restart" "last 'docker info': ${WAIT_LAST_SEEN}" \
        "read the daemon log above; to go back to the previous config: ${undo}; then 'docker info'"
fi
mark_toolkit_restart
register
summary "$changed" true false "$backup"
