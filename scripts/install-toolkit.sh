#!/usr/bin/env bash
# Host prep, step 2: the NVIDIA Container Toolkit. Already installed → nothing changes (its version is
# reported). Missing → on apt hosts, NVIDIA's documented steps: their signed keyring, their apt
# source, `apt-get update`, `apt-get install -y nvidia-container-toolkit` (as root, non-interactive).
# Nothing to undo on destroy: we never uninstall a system package (other software may use it).
#
# Inputs (environment):
#   GM_INSTALL_TOOLKIT   true | false   false: never install; a missing toolkit is then an error
#   GM_TIMEOUT_SECONDS   optional, default 900: deadline of each apt-get call
# Host paths overridable for tests only:
#   GM_APT_KEYRING  default /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
#   GM_APT_LIST     default /etc/apt/sources.list.d/nvidia-container-toolkit.list
# Summary (last stdout line): {"stage":"toolkit","changed":bool,"skipped":bool,"version":"1.20.0"|null,
# "installedAt":<epoch seconds>|null} ("skipped": installToolkit is false and the toolkit was already there;
# "installedAt": when this run installed it — the runtime step then restarts Docker once, since dockerd
# registers its GPU driver only if the toolkit's hook was on its PATH when it started).
set -euo pipefail
GM_STAGE=toolkit
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$(dirname "$0")/lib/common.sh"

require_bool GM_INSTALL_TOOLKIT
GM_TIMEOUT_SECONDS="${GM_TIMEOUT_SECONDS:-900}"
require_uint GM_TIMEOUT_SECONDS 1 7200
GM_APT_KEYRING="${GM_APT_KEYRING:-/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg}"
GM_APT_LIST="${GM_APT_LIST:-/etc/apt/sources.list.d/nvidia-container-toolkit.list}"
require_path GM_APT_KEYRING
require_path GM_APT_LIST

GUIDE="https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
GPGKEY_URL="https://nvidia.github.io/libnvidia-container/gpgkey"
LIST_URL="https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list"

# toolkit_version — the installed toolkit's version ("" when not installed): the package's version
# without its Debian revision, else what `nvidia-ctk --version` says.
toolkit_version() {
    local v=""
    if command -v dpkg-query >/dev/null 2>&1; then
        # shellcheck disable=SC2016 # ${Status}/${Version} are dpkg-query's format, not ours
        if [ "$(with_deadline 10 dpkg-query -W -f='${Status}' nvidia-container-toolkit 2>/dev/null || true)" = "install ok installed" ]; then
            # shellcheck disable=SC2016
            v=$(with_deadline 10 dpkg-query -W -f='${Version}' nvidia-container-toolkit 2>/dev/null) || v=""
            [[ "$v" != *-* ]] || v="${v%-*}"
        fi
    fi
    if [ -z "$v" ] && command -v nvidia-ctk >/dev/null 2>&1; then
        v=$(with_deadline 10 nvidia-ctk --version 2>/dev/null | sed -n 's/.*version \([0-9][0-9A-Za-z.~+-]*\).*/\1/p' | sed -n 1p) || v=""
        [ -n "$v" ] || v="unknown"
    fi
    printf '%s' "$v"
}

summary() {
    printf '{"stage":"toolkit","changed":%s,"skipped":%s,"version":%s,"installedAt":%s}\n' "$1" "$2" "$(json_str_or_null "$3")" "${4:-null}"
}

version=$(toolkit_version)
if [ -n "$version" ]; then
    [ "$version" != "unknown" ] || version=""
    log "NVIDIA Container Toolkit already installed (version ${version:-unknown}); nothing to do"
    summary false "$([ "$GM_INSTALL_TOOLKIT" = true ] && echo false || echo true)" "$version"
    exit 0
fi

if [ "$GM_INSTALL_TOOLKIT" != true ]; then
    fail "NVIDIA Container Toolkit is not installed and installToolkit is false" "no nvidia-ctk on PATH, no nvidia-container-toolkit package" \
        "install it yourself (${GUIDE}) or set installToolkit: true"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    fail "cannot install the NVIDIA Container Toolkit on this host" "no apt-get (not Debian/Ubuntu)" \
        "install it with your package manager as in ${GUIDE}, then re-run"
fi
for tool in curl gpg; do
    command -v "$tool" >/dev/null 2>&1 || fail "installing the toolkit needs ${tool}" "no ${tool} on PATH" "sudo apt-get install -y curl gnupg"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch URL FILE WHAT — downloads URL (bounded), or fails naming it.
fetch() {
    local err rc=0
    err=$(with_deadline 60 curl -fsSL --retry 2 -o "$2" "$1" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "could not download $3" "curl ${1}: $(first_line "${err:-exit ${rc}}") (exit ${rc})" \
            "check this host's network/proxy (curl -fsSL ${1}), or install the toolkit yourself (${GUIDE})"
    fi
}

# apt_run STEP ARGS... — one apt-get call as root, bounded; fails with apt's last lines.
apt_run() {
    local what="$1" out rc=0
    shift
    log "apt-get $* (deadline ${GM_TIMEOUT_SECONDS}s)"
    out=$(as_root timeout --kill-after=10 "$GM_TIMEOUT_SECONDS" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=120 "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "apt-get ${what} did not finish" "no result after ${GM_TIMEOUT_SECONDS}s" \
            "run 'sudo apt-get ${*}' by hand to see where it waits (apt lock, network), then re-run"
    elif [ "$rc" -ne 0 ]; then
        log "apt-get ${what} failed (exit ${rc}); its last lines:"
        tail_lines 10 "$out" >&2
        local err_line
        err_line=$(printf '%s\n' "$out" | grep -E '^(E|Err):' | tail -n 1) || err_line=$(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1)
        fail "apt-get ${what} failed" "${err_line:-no output} (exit ${rc})" \
            "fix the apt error (run 'sudo apt-get ${*}' by hand to see it), then re-run"
    fi
    tail_lines 2 "$out" >&2
}

log "NVIDIA Container Toolkit not installed; installing it from NVIDIA's apt repository"
require_root_access "installing the NVIDIA Container Toolkit"
fetch "$GPGKEY_URL" "$tmp/gpgkey" "NVIDIA's signing key"
fetch "$LIST_URL" "$tmp/list" "NVIDIA's apt source list"
sed "s#deb https://#deb [signed-by=${GM_APT_KEYRING}] https://#g" "$tmp/list" >"$tmp/list.signed"
if ! grep -q "^deb \[signed-by=${GM_APT_KEYRING}\] https://" "$tmp/list.signed"; then
    fail "NVIDIA's apt source list looks wrong" "no 'deb https://' line in ${LIST_URL}" \
        "open ${LIST_URL} in a browser; if NVIDIA changed it, follow ${GUIDE}"
fi

as_root mkdir -p "$(dirname "$GM_APT_KEYRING")" "$(dirname "$GM_APT_LIST")"
gpg_err=""
if ! gpg_err=$(as_root gpg --batch --yes --dearmor -o "$GM_APT_KEYRING" "$tmp/gpgkey" 2>&1); then
    fail "could not install NVIDIA's signing key" "gpg --dearmor: $(first_line "$gpg_err")" \
        "check ${GPGKEY_URL} downloads an ASCII-armored key and that ${GM_APT_KEYRING} is writable"
fi
as_root chmod 0644 "$GM_APT_KEYRING"
root_install_list() {
    as_root tee "$GM_APT_LIST" >/dev/null <"$tmp/list.signed"
    as_root chmod 0644 "$GM_APT_LIST"
}
root_install_list
log "added ${GM_APT_LIST} (signed by ${GM_APT_KEYRING})"

apt_run update update
apt_run install install -y nvidia-container-toolkit

hash -r
version=$(toolkit_version)
if [ -z "$version" ]; then
    fail "the toolkit install did not leave nvidia-ctk on PATH" "apt-get reported success; PATH=${PATH}" \
        "check 'dpkg -L nvidia-container-toolkit-base | grep bin/' and that /usr/bin is on PATH"
fi
[ "$version" != "unknown" ] || version=""
log "installed NVIDIA Container Toolkit ${version:-(version unknown)}"
summary true false "$version" "$(date +%s)"
