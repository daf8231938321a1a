#!/usr/bin/env bash
# Sourced by the nvidia-smi and docker stand-ins: what `nvidia-smi ARGS...` prints on the simulated host,
# from recorded real output (test/fixtures/nvidia-smi, see SOURCES.md there). SIM_NVIDIA_SMI_DRIVER picks
# the recording:
#   580 (default)  H200, driver 580.159.04: table says "Driver Version:" / "CUDA Version:".
#   610            H200, driver 610.43.02 (R610): table says "KMD Version:" / "CUDA UMD Version:", and
#                  `--version` says "KMD version" / "CUDA UMD version". `--query-gpu` answers are columns
#                  of the recorded all-fields query (h200-610-query-all-fields.csv), so any real field works.
#   610-no-driver-version
#                  HYPOTHETICAL: R610's recording without the `driver_version` field, as R610's own help
#                  announces for CUDA 14 ("will be removed in CUDA 14.0. Use KMD Version instead"). No
#                  such driver has been recorded; it exists so the queries' kmd_version fallback is tested.
# Field names a driver does not know get nvidia-smi's own answer, exit 2 and 'Field "X" is not a valid
# field to query.' on stdout (h200c-580-query-kmd-version-error.txt: driver 580 and R610's kmd_version).
# A call with no recording for the chosen driver fails loudly (exit 99) rather than print made-up output.

# smi_output ARGS... — prints what nvidia-smi prints for ARGS and returns its exit status.
smi_output() {
    local dir="${SIM_NVIDIA_SMI_DIR:?}" args="$*"
    case "${SIM_NVIDIA_SMI_DRIVER:-580}" in
        580)
            case "$args" in
                "") cat "$dir/smi-table.txt" ;;
                "-L") cat "$dir/smi-L.txt" ;;
                *--query-gpu=*kmd_version*) cat "$dir/h200c-580-query-kmd-version-error.txt"; return 2 ;;
                *--query-gpu=*noheader*) grep -v '^index' "$dir/smi-query.csv" ;;
                *--query-gpu=*) cat "$dir/smi-query.csv" ;;
                *) cat "$dir/smi-table.txt" ;;
            esac ;;
        610 | 610-no-driver-version)
            local removed=""
            [ "$SIM_NVIDIA_SMI_DRIVER" = 610 ] || removed=driver_version
            case "$args" in
                "") cat "$dir/h200-610-table.txt" ;;
                "--version") cat "$dir/h200-610-version.txt" ;;
                *--query-gpu=*) SMI_REMOVED_FIELD="$removed" smi_query_columns "$dir/h200-610-query-all-fields.csv" "$@" ;;
                *) echo "nvidia-smi stand-in: no R610 recording of 'nvidia-smi ${args}'" >&2; return 99 ;;
            esac ;;
        *) echo "nvidia-smi stand-in: SIM_NVIDIA_SMI_DRIVER must be 580, 610 or 610-no-driver-version" >&2; return 99 ;;
    esac
}

# smi_query_columns CSV ARGS... — the --query-gpu fields of ARGS, in their order, cut from CSV (a recorded
# query of every field, header with units); --format=csv or csv,noheader (nounits was not recorded).
smi_query_columns() {
    local csv="$1" fields="" format="" arg
    shift
    for arg in "$@"; do
        case "$arg" in
            --query-gpu=*) fields="${arg#--query-gpu=}" ;;
            --format=*) format="${arg#--format=}" ;;
        esac
    done
    case "$format" in
        csv | csv,noheader | noheader,csv) ;;
        *) echo "nvidia-smi stand-in: no R610 recording of --format=${format}" >&2; return 99 ;;
    esac
    awk -F', ' -v fields="$fields" -v removed="${SMI_REMOVED_FIELD:-}" -v header="$([[ "$format" == *noheader* ]] && echo 0 || echo 1)" '
        NR == 1 {
            for (i = 1; i <= NF; i++) { name = $i; sub(/ \[.*\]$/, "", name); if (name != removed) col[name] = i }
            n = split(fields, want, ",")
            for (j = 1; j <= n; j++) {
                if (!(want[j] in col)) { printf "Field \"%s\" is not a valid field to query.\n\n", want[j]; bad = 1; exit 2 }
            }
        }
        {
            if (NR == 1 && !header) next
            line = ""
            for (j = 1; j <= n; j++) line = line (j > 1 ? ", " : "") $(col[want[j]])
            print line
        }' "$csv"
}
