#!/usr/bin/env bash
# Runs shellcheck over every host script (and the test stand-ins), so `npm run lint` covers bash too.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "shellcheck is not installed: install it (Debian/Ubuntu: sudo apt-get install -y shellcheck) and re-run." >&2
    exit 1
fi
mapfile -t files < <(find scripts test/harness -type f \( -name '*.sh' -o -path '*/bin/*' \) | sort)
if [ "${#files[@]}" -eq 0 ]; then
    echo "shellcheck: no scripts found"
    exit 0
fi
shellcheck -x "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"
