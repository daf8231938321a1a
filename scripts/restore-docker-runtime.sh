#!/usr/bin/env bash
# Host prep, undo of step 3 (run on `pulumi destroy`): puts daemon.json back as it was before
# configure-docker-runtime.sh changed it, using what that script recorded in $GM_STATE_DIR/docker-runtime.
#   - nothing recorded (we never changed daemon.json)            → no-op
#   - daemon.json still holds exactly what we wrote (sha256)      → restore the backup byte-for-byte
#     (or, when there was no daemon.json before, remove ours), restart Docker once and wait for it
#   - daemon.json changed since (a user edit) or deleted          → warn and leave it; the pre-change
#     copy is kept (its path is in the warning)
# A daemon.json that existed before `up` is never deleted; Docker restarts only if the file changed.
#
# Inputs (environment):
#   GM_CONFIGURE_DOCKER  true | false   (validated; the record decides what to undo either way)
#   GM_TIMEOUT_SECONDS   1..3600        deadline for the restart and for Docker to come back
# Host paths overridable for tests only: GM_DOCKER_DAEMON_JSON, GM_STATE_DIR, GM_PROC_DIR, GM_RUN_DIR,
# GM_DOCKER_LOG_FILE (see lib/docker.sh).
# Summary (last stdout line): {"stage":"docker-runtime-restore","restored":bool,"restarted":bool,"reason":"…"}
set -euo pipefail
GM_STAGE=docker-runtime-restore
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"

require_bool GM_CONFIGURE_DOCKER
require_uint GM_TIMEOUT_SECONDS 1 3600
validate_host_paths
deadline=$(($(date +%s) + 10#$GM_TIMEOUT_SECONDS))

summary() {
    printf '{"stage":"docker-runtime-restore","restored":%s,"restarted":%s,"reason":%s}\n' "$1" "$2" "$(json_str "$3")"
}

if ! record_exists; then
    log "gpu-minikube never changed Docker's daemon.json on this host; nothing to restore"
    summary false false "nothing recorded: daemon.json was not changed by gpu-minikube"
    exit 0
fi

target=$(record_get target)
before=$(record_get before)
written=$(record_get written.sha256)
backup="${GM_RUNTIME_RECORD_DIR}/daemon.json.orig"
if ! [[ "$target" =~ ^/[A-Za-z0-9/._+-]*$ ]] || ! [[ "$written" =~ ^[0-9a-f]{64}$ ]] || { [ "$before" != present ] && [ "$before" != absent ]; }; then
    fail "the record in ${GM_RUNTIME_RECORD_DIR} is damaged" "target=${target} before=${before} sha256=${written}" \
        "restore ${GM_DOCKER_DAEMON_JSON} by hand (a backup may be at ${backup}), then remove ${GM_RUNTIME_RECORD_DIR}"
fi
if [ "$before" = present ] && [ ! -f "$backup" ]; then
    fail "the backup of ${target} is missing" "no ${backup}" \
        "restore ${target} by hand, then remove ${GM_RUNTIME_RECORD_DIR}"
fi

if [ "$target" != "$GM_DOCKER_DAEMON_JSON" ]; then
    log "warning: the recorded change is to ${target}, not ${GM_DOCKER_DAEMON_JSON}; restoring ${target}"
fi

# restart_and_wait — restarts Docker so it reads the restored file, within the deadline.
restart_and_wait() {
    local rc=0 remaining
    remaining=$((deadline - $(date +%s)))
    [ "$remaining" -ge 1 ] || remaining=1
    restart_docker "$remaining" || rc=$?
    if [ "$rc" -ne 0 ]; then
        show_daemon_logs
        fail "Docker did not restart after restoring ${target}" "'$(docker_restart_command)' exited ${rc}" \
            "read the daemon log above, fix ${target}, run '$(docker_restart_command)' and re-run destroy"
    fi
    rc=0
    wait_docker_ready "$deadline" false || rc=$?
    if [ "$rc" -ne 0 ]; then
        show_daemon_logs
        fail "Docker did not come back within ${GM_TIMEOUT_SECONDS}s after restoring ${target}" "last 'docker info': ${WAIT_LAST_SEEN}" \
            "read the daemon log above, fix ${target}, run '$(docker_restart_command)' and re-run destroy"
    fi
}

# done_restoring REASON — restarts Docker, forgets the record, prints the summary.
done_restoring() {
    restart_and_wait
    as_root rm -rf "$GM_RUNTIME_RECORD_DIR"
    summary true true "$1"
    exit 0
}

if [ -e "$target" ] || [ -L "$target" ]; then
    cur_sha=$(file_sha256 "$target")
else
    cur_sha=""
fi

if [ -n "$cur_sha" ] && [ "$cur_sha" = "$written" ]; then
    require_root_access "restoring ${target} and restarting Docker"
    if [ "$before" = absent ]; then
        log "${target} did not exist before gpu-minikube; removing the one we wrote"
        as_root rm -f "$target"
        done_restoring "removed ${target}, which gpu-minikube had created"
    fi
    log "restoring ${target} from ${backup}"
    replace_file "$backup" "$target"
    if [ "$(file_sha256 "$target")" != "$(file_sha256 "$backup")" ]; then
        fail "restoring ${target} did not stick" "its sha256 differs from ${backup}" \
            "copy it by hand: sudo cp -p ${backup} ${target} && $(docker_restart_command)"
    fi
    done_restoring "restored ${target} to its content before gpu-minikube"
fi

# A re-run after a destroy that restored the file but failed while Docker restarted.
if { [ "$before" = absent ] && [ -z "$cur_sha" ]; } ||
    { [ "$before" = present ] && [ -n "$cur_sha" ] && [ "$cur_sha" = "$(file_sha256 "$backup")" ]; }; then
    require_root_access "restarting Docker"
    log "${target} is already as it was before gpu-minikube (an earlier destroy restored it); restarting Docker to apply it"
    done_restoring "${target} was already restored; Docker restarted to apply it"
fi

# Changed or deleted since we wrote it: leave it, keep the pre-change copy for the user.
if can_root; then
    kept=$(record_archive kept)
else
    kept="$GM_RUNTIME_RECORD_DIR"
fi
if [ -z "$cur_sha" ]; then
    found="${target} was deleted after gpu-minikube configured it"
else
    found="${target} was edited after gpu-minikube configured it"
fi
if [ "$before" = present ]; then
    hint="its content before gpu-minikube is at ${kept}/daemon.json.orig"
else
    hint="there was no ${target} before gpu-minikube"
fi
log "warning: ${found}; left as it is (not restored, Docker not restarted); ${hint}"
summary false false "${found}; left as it is; ${hint}"
