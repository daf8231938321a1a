#!/usr/bin/env bash
# Host prep, undo of step 3 (run on `pulumi destroy`): puts daemon.json back as it was before
# configure-docker-runtime.sh changed it, using what that script recorded in $GM_HOST_STATE_DIR/docker-runtime,
# and removes the CDI spec it wrote ($GM_HOST_STATE_DIR/cdi-spec) — but only what THIS stack relied on, and
# only when no other stack still does:
#   - this stack's own create registered nothing (its recorded output, PULUMI_COMMAND_STDOUT, says
#     "registered": false: it changed nothing and relied on no recorded change) → no-op
#   - other stacks are still registered in $GM_HOST_STATE_DIR/users → this stack's entry is removed, the
#     change stays, Docker is not restarted (their clusters keep running)
#   - this was the last stack relying on the change:
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
#   GM_OWNER             this stack, as configure registered it
#   PULUMI_COMMAND_STDOUT  the create's summary (given by @pulumi/command to delete); optional
# Host paths overridable for tests only: GM_DOCKER_DAEMON_JSON, GM_HOST_STATE_DIR, GM_PROC_DIR, GM_RUN_DIR,
# GM_DOCKER_LOG_FILE (see lib/docker.sh).
# Summary (last stdout line): {"stage":"docker-runtime-restore","restored":bool,"restarted":bool,
# "cdiSpecRemoved":bool,"users":["…"],"reason":"…"}
set -euo pipefail
GM_STAGE=docker-runtime-restore
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/docker.sh
source "$(dirname "$0")/lib/docker.sh"

require_bool GM_CONFIGURE_DOCKER
require_uint GM_TIMEOUT_SECONDS 1 3600
require_owner
validate_host_paths
deadline=$(($(date +%s) + 10#$GM_TIMEOUT_SECONDS))
cdi_removed=false

summary() {
    local users_json
    users_json=$(IFS=,; read -r -a u <<<"$(users_list)"; json_str_array ${u[@]+"${u[@]}"})
    printf '{"stage":"docker-runtime-restore","restored":%s,"restarted":%s,"cdiSpecRemoved":%s,"users":%s,"reason":%s}\n' \
        "$1" "$2" "$cdi_removed" "$users_json" "$(json_str "$3")"
}

# What this stack's own create did: its summary line, as Pulumi stored it.
own=$(printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | grep '^{"stage":"docker-runtime"' | tail -n 1 || true)
own_registered=$(grep -o '"registered":\(true\|false\)' <<<"$own" | cut -d: -f2 || true)
own_changed=$(grep -o '"changed":\(true\|false\)' <<<"$own" | cut -d: -f2 || true)

if ! any_record_exists; then
    if user_registered "$GM_OWNER" && can_root; then user_unregister "$GM_OWNER"; fi
    log "gpu-minikube never changed Docker's daemon.json or wrote a CDI spec on this host; nothing to restore"
    summary false false "nothing recorded: daemon.json was not changed by gpu-minikube"
    exit 0
fi

# Did THIS stack rely on the recorded change? Its users entry says so; a create from before users were
# recorded says so with "changed": true; a create that registered nothing did not.
relies=false
if user_registered "$GM_OWNER"; then
    relies=true
elif [ -z "$own_registered" ] && { [ "$own_changed" = true ] || { [ -z "$own" ] && [ -z "$(users_list)" ]; }; }; then
    relies=true
fi
if [ "$relies" = false ]; then
    log "this stack's Docker step changed nothing and relied on no gpu-minikube change (users: $(users_list)); nothing to undo, Docker not restarted"
    summary false false "this stack's runtime step changed nothing; the recorded change belongs to other stacks ($(users_list)) and was left in place"
    exit 0
fi
others=$(users_list | tr ',' '\n' | grep -Fvx "$GM_OWNER" | paste -sd, - || true)
if [ -n "$others" ]; then
    require_root_access "removing this stack from ${GM_USERS_DIR}"
    user_unregister "$GM_OWNER"
    log "other stacks still rely on gpu-minikube's Docker change (${others}): left in place, Docker not restarted; the last of them to be destroyed undoes it"
    summary false false "still used by ${others}: Docker's nvidia runtime and the CDI spec were left in place, Docker not restarted"
    exit 0
fi

# undo_cdi_spec — removes (or restores) the CDI spec we wrote, if it still holds what we wrote.
undo_cdi_spec() {
    [ -f "${GM_CDI_RECORD_DIR}/written.sha256" ] || return 0
    local spec before written cur=""
    spec=$(cat "${GM_CDI_RECORD_DIR}/target")
    before=$(cat "${GM_CDI_RECORD_DIR}/before")
    written=$(cat "${GM_CDI_RECORD_DIR}/written.sha256")
    if ! [[ "$spec" =~ ^/[A-Za-z0-9/._+-]*$ ]] || ! [[ "$written" =~ ^[0-9a-f]{64}$ ]]; then
        fail "the record in ${GM_CDI_RECORD_DIR} is damaged" "target=${spec} sha256=${written}" \
            "remove the CDI spec by hand if gpu-minikube wrote it, then remove ${GM_CDI_RECORD_DIR}"
    fi
    [ ! -f "$spec" ] || cur=$(file_sha256 "$spec")
    if [ "$cur" = "$written" ]; then
        require_root_access "removing the CDI spec ${spec}"
        if [ "$before" = present ] && [ -f "${GM_CDI_RECORD_DIR}/nvidia.yaml.orig" ]; then
            as_root cp -p "${GM_CDI_RECORD_DIR}/nvidia.yaml.orig" "$spec"
            log "restored the CDI spec ${spec} that was there before gpu-minikube"
        else
            as_root rm -f "$spec"
            log "removed the CDI spec ${spec}, which gpu-minikube had written"
        fi
        cdi_removed=true
        as_root rm -rf "$GM_CDI_RECORD_DIR"
    elif [ -n "$cur" ]; then
        log "warning: ${spec} changed after gpu-minikube wrote it; left as it is"
        if can_root; then as_root mv "$GM_CDI_RECORD_DIR" "${GM_CDI_RECORD_DIR}.kept-$(date +%Y%m%dT%H%M%S)"; fi
    else
        if can_root; then as_root rm -rf "$GM_CDI_RECORD_DIR"; fi
    fi
}

undo_cdi_spec
if ! record_exists; then
    if user_registered "$GM_OWNER"; then user_unregister "$GM_OWNER"; fi
    summary false false "daemon.json was not changed by gpu-minikube$([ "$cdi_removed" = false ] || printf '; removed the CDI spec it wrote')"
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

# done_restoring REASON — restarts Docker, forgets the record and this stack's entry, prints the summary.
done_restoring() {
    restart_and_wait
    as_root rm -rf "$GM_RUNTIME_RECORD_DIR"
    user_unregister "$GM_OWNER"
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
if can_root; then user_unregister "$GM_OWNER"; fi
log "warning: ${found}; left as it is (not restored, Docker not restarted); ${hint}"
summary false false "${found}; left as it is; ${hint}"
