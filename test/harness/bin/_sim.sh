#!/usr/bin/env bash
# Sourced by every stand-in command of the simulated host (test/harness/simHost.ts).
# SIM_STATE holds the host's state; every call is journaled; faults make any call fail or hang.

# sim_call NAME ARGS... — journals the call, then applies a matching fault (may exit or sleep).
# Journal line: NAME, then each argument, separated by the ASCII unit separator (0x1f).
sim_call() {
    local name="$1"
    shift
    local line="$name" arg
    for arg in "$@"; do line+=$'\x1f'"$arg"; done
    printf '%s\n' "$line" >>"$SIM_STATE/journal"
    sim_fault "$name" "$*"
}

# sim_fault NAME ARGSTRING — faults/NAME holds lines "MATCH<TAB>EXIT<TAB>HANG_SECONDS<TAB>STDERR";
# the first line whose MATCH is '*' or a substring of ARGSTRING applies.
sim_fault() {
    local file="$SIM_STATE/faults/$1" args="$2" match code hang msg
    [ -f "$file" ] || return 0
    while IFS=$'\t' read -r match code hang msg; do
        if [ "$match" = "*" ] || [[ "$args" == *"$match"* ]]; then
            if [ -n "$hang" ] && [ "$hang" != "0" ]; then sleep "$hang"; fi
            if [ -n "$msg" ]; then printf '%b\n' "$msg" >&2; fi
            if [ -n "$code" ] && [ "$code" != "-" ]; then exit "$code"; fi
            return 0
        fi
    done <"$file"
}
