// Expected values below were written by reading each fixture (see test/fixtures/nvidia-smi/SOURCES.md), not by
// running the parser, so that a parser change that misreads real output fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { NVIDIA_SMI_MAX_INPUT_CHARS, NvidiaSmiGpu, NvidiaSmiReport, parseNvidiaSmi } from "../components/nvidiaSmi";
import { evaluateVerification } from "../components/verificationResult";

const FIXTURES = join(__dirname, "fixtures", "nvidia-smi");

function fixture(name: string): string {
    return readFileSync(join(FIXTURES, name), "utf8");
}

function gpu(
    index: number,
    name: string,
    uuid: string | null,
    memoryTotalMiB: number | null,
    busId: string | null,
): NvidiaSmiGpu {
    return { index, name, uuid, memoryTotalMiB, busId };
}

function report(
    driverVersion: string | null,
    cudaVersion: string | null,
    gpus: NvidiaSmiGpu[],
    notes: string[] = [],
): NvidiaSmiReport {
    return { driverVersion, cudaVersion, gpus, notes };
}

const EMPTY = report(null, null, []);

const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const H200_FULL = gpu(0, "NVIDIA H200", H200_UUID, 143771, "00000000:00:06.0");
const H200_TABLE = gpu(0, "NVIDIA H200", null, 143771, "00000000:00:06.0");
const A100_MIG_UUID = "GPU-838f60d9-651f-9166-ea42-f9da674a6947";

// ---------------------------------------------------------------------------------------------------------------
// One test per fixture

test("H200 table, no processes", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-table.txt")), report("580.159.04", "13.0", [H200_TABLE]));
});

test("H200 table with a running process", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-table-processes.txt")), report("580.159.04", "13.0", [H200_TABLE]));
});

test("H200 nvidia-smi -L", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("smi-L.txt")),
        report(null, null, [gpu(0, "NVIDIA H200", H200_UUID, null, null)]),
    );
});

test("H200 csv query with header and units", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-query.csv")), report("580.159.04", null, [H200_FULL]));
});

test("H200 csv query, noheader,nounits", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-query-nounits.csv")), report("580.159.04", null, [H200_FULL]));
});

test("H200 csv query with header, nounits", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-query-header-nounits.csv")), report("580.159.04", null, [H200_FULL]));
});

test("H200 pod log: table then csv query, merged into one GPU", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("smi-combined.txt")), report("580.159.04", "13.0", [H200_FULL]));
});

test("H200 --version, a driver_version,count query, uname, -L and the start of -q", () => {
    // The -q excerpt stops before "FB Memory Usage", so the memory is unknown; the "580.159.04, 1" line is not a GPU.
    assert.deepEqual(
        parseNvidiaSmi(fixture("smi-misc.txt")),
        report("580.159.04", "13.0", [gpu(0, "NVIDIA H200", H200_UUID, null, "00000000:00:06.0")]),
    );
});

test("H200 nvidia-smi -q", () => {
    // FB Memory Total 143771 MiB; the BAR1 (262144) and Conf Compute (0) "Total" lines must not be taken.
    assert.deepEqual(parseNvidiaSmi(fixture("smi-q-full.txt")), report("580.159.04", "13.0", [H200_FULL]));
});

test("8x A100-SXM4-40GB, driver 450.80.02, MIG devices section, inside a build log", () => {
    const busIds = ["0F", "15", "51", "54", "8D", "92", "D6", "DA"];
    assert.deepEqual(
        parseNvidiaSmi(fixture("a100x8-mig-450-log.txt")),
        report(
            "450.80.02",
            "11.0",
            busIds.map((bus, index) => gpu(index, "A100-SXM4-40GB", null, 40537, `00000000:${bus}:00.0`)),
        ),
    );
});

test("A100 with 7 MIG instances, driver 595.91.07, printed in the driver pod", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("a100-mig-595-k8s-table.txt")),
        report("595.91.07", "13.2", [gpu(0, "NVIDIA A100-SXM4-40GB", null, 40960, "00000000:00:04.0")]),
    );
});

test("A100 nvidia-smi -L with MIG device lines: the MIG lines are not GPUs", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("a100-mig-595-L.txt")),
        report(null, null, [gpu(0, "NVIDIA A100-SXM4-40GB", A100_MIG_UUID, null, null)]),
    );
});

test("4x Tesla V100, NVIDIA-SMI 396.26 / driver 410.66, header without CUDA Version", () => {
    const busIds = ["15", "16", "3A", "3B"];
    assert.deepEqual(
        parseNvidiaSmi(fixture("v100x4-396-table.txt")),
        report(
            "410.66",
            null,
            busIds.map((bus, index) => gpu(index, "Tesla V100-SXM2...", null, 16130, `00000000:${bus}:00.0`)),
        ),
    );
});

test("Tesla T4, driver 418.67, printed inside a Kubernetes pod", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("t4-418-k8s-pod-table.txt")),
        report("418.67", "10.1", [gpu(0, "Tesla T4", null, 15079, "00000000:00:05.0")]),
    );
});

test("WSL2 table: the Windows driver version, not the NVIDIA-SMI version", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("wsl2-rtx4060ti-545-table.txt")),
        report("546.12", "12.3", [gpu(0, "NVIDIA GeForce RTX 4060 Ti", null, 8188, "00000000:01:00.0")]),
    );
});

test("nvidia-smi.exe from WSL2: TCC/WDDM column is not part of the name, output cut in the process list", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("wsl2-nvidia-smi-exe-rtx2070-460-wddm-partial.txt")),
        report("460.15", "11.1", [gpu(0, "GeForce RTX 207...", null, 8192, "00000000:01:00.0")]),
    );
});

test("Tesla V100 with a truncated table name, driver 525.105.17", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("v100-525-truncated-name-table.txt")),
        report("525.105.17", "12.0", [gpu(0, "Tesla V100-SXM2...", null, 32768, "00000000:00:09.0")]),
    );
});

test("WSL2 nvidia-smi -a, cut before the memory section", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("wsl2-gtx1650ti-510-q-partial.txt")),
        report("510.06", "11.6", [
            gpu(
                0,
                "NVIDIA GeForce GTX 1650 Ti with Max-Q Design",
                "GPU-b5e386b4-3e71-5837-aca5-80c5914cf07f",
                null,
                "00000000:01:00.0",
            ),
        ]),
    );
});

// ---------------------------------------------------------------------------------------------------------------
// R610 and later: "KMD Version" / "CUDA UMD Version" labels (issue 15)

const MASKED_UUID = "GPU-00000000-0000-0000-0000-000000000000";
const H200_610 = gpu(0, "NVIDIA H200", MASKED_UUID, 143771, "00000000:83:00.0");
const H200C_UUID = "GPU-c0402217-3ddf-d225-1052-939c1579e584";

test("R610 table on an H200: KMD Version / CUDA UMD Version banner", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200-610-table.txt")),
        report("610.43.02", "13.3", [gpu(0, "NVIDIA H200", null, 143771, "00000000:83:00.0")]),
    );
});

test("R610 table from Windows nvidia-smi.exe 610.62, the banner quoted in the issue", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("win-rtx2080s-610.62-table.txt")),
        report("610.62", "13.3", [gpu(0, "NVIDIA GeForce RTX 2080 ...", null, 8192, "00000000:0C:00.0")]),
    );
});

test("R610 nvidia-smi -q: deprecated Driver/CUDA Version lines and the new KMD/CUDA UMD lines", () => {
    // FB Memory Total 143771 MiB; the BAR1 Total (262144) and Conf Compute Total (0) must not be taken.
    assert.deepEqual(parseNvidiaSmi(fixture("h200-610-q-partial.txt")), report("610.43.02", "13.3", [H200_610]));
});

test("R610 nvidia-smi --version: 'Deprecated, see ...' is not a version, the KMD line is", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("h200-610-version.txt")), report("610.43.02", "13.3", []));
});

test("R610 --version without its KMD line: the deprecated DRIVER line gives no version, and says so", () => {
    const lines = fixture("h200-610-version.txt").split("\n").filter((line) => !line.startsWith("KMD version"));
    assert.equal(lines[2], 'DRIVER version      : Deprecated, see "KMD version" instead');
    assert.deepEqual(
        parseNvidiaSmi(lines.join("\n")),
        report(null, "13.3", [], [`nvidia-smi printed ${JSON.stringify(lines[2])}, which holds no version`]),
    );
});

test("R610 csv of every query field: 241 columns, index in column 30, kmd_version, [N/A] and deprecated cells", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("h200-610-query-all-fields.csv")), report("610.43.02", null, [H200_610]));
});

test("R610: table, -q, --version and csv of the same H200 in one log describe one GPU", () => {
    const all = ["h200-610-table.txt", "h200-610-version.txt", "h200-610-q-partial.txt", "h200-610-query-all-fields.csv"]
        .map(fixture)
        .join("\n");
    assert.deepEqual(parseNvidiaSmi(all), report("610.43.02", "13.3", [H200_610]));
});

test("R610 -q alone: only the deprecated Driver Version line still gives the version before its note", () => {
    const lines = fixture("h200-610-q-partial.txt")
        .split("\n")
        .filter((line) => !line.startsWith("KMD Version") && !line.startsWith("CUDA UMD Version"));
    assert.deepEqual(parseNvidiaSmi(lines.join("\n")), report("610.43.02", "13.3", [H200_610]));
});

// ---------------------------------------------------------------------------------------------------------------
// csv with a header row: columns by name, any order (issue 15)

test("H200 csv, header, index first (recorded on a third H200)", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200c-580-query-index-first.csv")),
        report("580.159.04", null, [gpu(0, "NVIDIA H200", H200C_UUID, 143771, "00000000:00:06.0")]),
    );
});

test("H200 csv queried by alias names, no index column: the header says uuid, name, pci.bus_id", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200c-580-query-aliases-noindex.csv")),
        report("580.159.04", null, [gpu(0, "NVIDIA H200", H200C_UUID, null, "00000000:00:06.0")]),
    );
});

test("H200 csv with unknown, [N/A] and deprecated columns around index, with and without units", () => {
    const expected = report("580.159.04", null, [gpu(0, "NVIDIA H200", H200C_UUID, 143771, null)]);
    assert.deepEqual(parseNvidiaSmi(fixture("h200c-580-query-extra-deprecated.csv")), expected);
    assert.deepEqual(parseNvidiaSmi(fixture("h200c-580-query-extra-deprecated-nounits.csv")), expected);
});

test("asking a 580 driver for kmd_version is an error line, not a GPU", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("h200c-580-query-kmd-version-error.txt")), EMPTY);
});

test("csv without index: rows are numbered in order, whatever the column order", () => {
    // Two rows built from the recorded alias query: the second GPU is synthetic.
    const [header = "", row = ""] = fixture("h200c-580-query-aliases-noindex.csv").split("\n");
    const other = row.replace(H200C_UUID, "GPU-11111111-2222-3333-4444-555555555555").replace(":00:06.0", ":00:07.0");
    assert.deepEqual(
        parseNvidiaSmi([header, row, other].join("\n")).gpus,
        [
            gpu(0, "NVIDIA H200", H200C_UUID, null, "00000000:00:06.0"),
            gpu(1, "NVIDIA H200", "GPU-11111111-2222-3333-4444-555555555555", null, "00000000:00:07.0"),
        ],
    );
});

test("csv: a deprecated driver_version cell falls back to kmd_version, and is never taken as a version", () => {
    const csv = (driver: string, kmd: string): string =>
        `index, driver_version, kmd_version, uuid\n0, ${driver}, ${kmd}, ${H200C_UUID}\n`;
    const deprecated = "[Requested functionality has been deprecated]";
    assert.equal(parseNvidiaSmi(csv(deprecated, "610.43.02")).driverVersion, "610.43.02");
    const neither = parseNvidiaSmi(csv(deprecated, "[N/A]"));
    assert.equal(neither.driverVersion, null);
    assert.match(neither.notes.join("\n"), /driver_version.*Requested functionality has been deprecated/);
});

// ---------------------------------------------------------------------------------------------------------------
// csv tables of processes and retired pages: one row per process or page, not per GPU (issue 15)

const MASKED_2080S = gpu(0, "NVIDIA GeForce RTX 2080 ...", null, 8192, "00000000:0C:00.0");

test("R610 table of a GeForce RTX 2080 SUPER under load, with two compute processes", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("rtx2080s-610.57.04-load-table.txt")), report("610.57.04", "13.3", [MASKED_2080S]));
});

test("--query-compute-apps csv: two ffmpeg processes on one GPU are not two GPUs", () => {
    const r = parseNvidiaSmi(fixture("rtx2080s-610.57.04-query-compute-apps.csv"));
    assert.deepEqual(r.gpus, []);
    assert.equal(r.driverVersion, null);
    assert.match(r.notes.join("\n"), /timestamp, gpu_name, gpu_bus_id, gpu_serial, gpu_uuid, pid/);
});

test("--query-compute-apps csv from Windows: ten desktop processes on one GPU are not ten GPUs", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("win-rtx2080s-591.86-query-compute-apps.csv")).gpus, []);
});

test("--query-retired-pages csv: one row per retirement cause is not a GPU", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("rtx2080s-610.57.04-query-retired-pages.csv")).gpus, []);
});

test("table, then the process and retired-page csv tables of the same moment: still one GPU", () => {
    const log = ["rtx2080s-610.57.04-load-table.txt", "rtx2080s-610.57.04-query-compute-apps.csv",
        "rtx2080s-610.57.04-query-retired-pages.csv"].map(fixture).join("\n");
    assert.deepEqual(parseNvidiaSmi(log), report("610.57.04", "13.3", [MASKED_2080S]));
});

// ---------------------------------------------------------------------------------------------------------------
// csv shapes recorded on a fifth H200 (issue 15): a looped query, one-column queries, process rows

const H200E_UUID = "GPU-2e5fad2c-17f1-0eb3-a355-fa615a9b2f4a";

test("csv of a looped query (-l 1) without index: four samples of one GPU are one GPU", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200e-580-query-loop-noindex.csv")),
        report(null, null, [gpu(0, "NVIDIA H200", H200E_UUID, null, null)]),
    );
});

test("one-column csv: --query-gpu=driver_version with its header gives the driver version", () => {
    assert.deepEqual(parseNvidiaSmi(fixture("h200e-580-query-driver-version-only.csv")), report("580.159.04", null, []));
});

test("one-column csv: --query-gpu=uuid with its header gives the GPU's UUID", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200e-580-query-uuid-only.csv")),
        report(null, null, [gpu(0, "", H200E_UUID, null, null)]),
    );
});

test("one-column csv: a line after the header that is not a value ends it; [N/A] is no version, with a reason", () => {
    // Built from the recorded one-column query: the header, then a cell nvidia-smi prints for unknown values.
    const [header = ""] = fixture("h200e-580-query-driver-version-only.csv").split("\n");
    assert.deepEqual(parseNvidiaSmi(`${header}\nsome other log line\n`), EMPTY);
    const na = parseNvidiaSmi(`${header}\n[N/A]\n`);
    assert.equal(na.driverVersion, null);
    assert.match(na.notes.join("\n"), /driver_version holds "\[N\/A\]"/);
    assert.deepEqual(parseNvidiaSmi("uuid\nnot a uuid\n"), EMPTY);
});

test("--query-gpu asked for gpu_name,gpu_bus_id prints name, pci.bus_id: read as the GPU", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("h200e-580-query-aliases-vbios.csv")),
        report(null, null, [gpu(0, "NVIDIA H200", null, null, "00000000:00:06.0")]),
    );
});

test("H200 table with two CUDA processes, then --query-compute-apps of the same moment: one GPU", () => {
    const table = fixture("h200e-580-table-2-processes.txt");
    const expected = report("580.159.04", "13.0", [gpu(0, "NVIDIA H200", null, 143771, "00000000:00:06.0")]);
    assert.deepEqual(parseNvidiaSmi(table), expected);
    assert.deepEqual(parseNvidiaSmi(table + fixture("h200e-580-query-compute-apps.csv")), expected);
    assert.deepEqual(parseNvidiaSmi(fixture("h200e-580-query-compute-apps.csv")).gpus, []);
    // Asked for name,used_memory,gpu_name, --query-compute-apps prints process_name and keeps gpu_name.
    assert.deepEqual(parseNvidiaSmi(fixture("h200e-580-query-compute-apps-aliases-none-running.csv")), EMPTY);
});

// ---------------------------------------------------------------------------------------------------------------
// Labels this parser does not know: nulls with a reason, never a wrong value (issue 15)

test("a banner with unknown version labels gives null versions and says why", () => {
    // Synthetic: what a future relabelling could look like; no driver prints this today.
    const r = parseNvidiaSmi("| NVIDIA-SMI 700.12      Kernel Driver: 700.12      CUDA Runtime Limit: 14.1     |\n");
    assert.equal(r.driverVersion, null);
    assert.equal(r.cudaVersion, null);
    assert.deepEqual(r.gpus, []);
    const notes = r.notes.join("\n");
    assert.match(notes, /no driver version label/);
    assert.match(notes, /Kernel Driver/);
    assert.match(notes, /no CUDA version label/);
});

test("a banner with no \"Label:\" at all gives a null driver version and says why, quoting the banner", () => {
    // Synthetic: a relabelling without colons; no driver prints this today. Before, such a banner was skipped silently.
    const banner = "| NVIDIA-SMI 700.12              Kernel Driver 700.12       CUDA Runtime 14.1          |";
    const r = parseNvidiaSmi(`${banner}\n`);
    assert.equal(r.driverVersion, null);
    assert.equal(r.cudaVersion, null);
    assert.match(r.notes.join("\n"), /no driver version label/);
    assert.ok(r.notes.join("\n").includes(JSON.stringify(banner)), r.notes.join("\n"));
    const verdict = evaluateVerification({
        jobSucceeded: true, log: banner, node: "n", image: "i", minGpus: 0, hostDriverVersion: "700.12", hostGpuUuids: [],
    });
    assert.deepEqual(verdict.reasons.length, 1);
    assert.match(verdict.reasons[0] ?? "", /^could not read the driver version .*Kernel Driver 700\.12/);
});

test("an unreadable value under a known banner label is null with a reason", () => {
    const r = parseNvidiaSmi("| NVIDIA-SMI 610.62     KMD Version: ERR!     CUDA UMD Version: 13.3     |\n");
    assert.equal(r.driverVersion, null);
    assert.equal(r.cudaVersion, "13.3");
    assert.match(r.notes.join("\n"), /KMD Version.*ERR!/);
});

test("a csv table whose header has no known column is skipped with a reason, not read as header-less output", () => {
    // Synthetic header over a real row shape: read header-less, "2" would become a GPU index.
    const csv = `fan.count, board.product, board.id\n2, NVIDIA H200, ${H200C_UUID}\n`;
    const r = parseNvidiaSmi(csv);
    assert.deepEqual(r.gpus, []);
    assert.equal(r.driverVersion, null);
    assert.match(r.notes.join("\n"), /fan\.count, board\.product, board\.id/);
});

test("notes stay short: a banner with a hundred unknown labels, a huge unknown csv header", () => {
    const banner = parseNvidiaSmi("| NVIDIA-SMI 1 " + "Label: 1 ".repeat(100) + "|\n");
    const csv = parseNvidiaSmi("x.y, ".repeat(2000) + "z\n" + "1, ".repeat(2000) + "2\n");
    assert.equal(banner.notes.length, 2);
    assert.equal(csv.notes.length, 1);
    for (const note of [...banner.notes, ...csv.notes]) {
        assert.ok(note.length < 600, `note of ${note.length} chars`);
    }
});

test("notes only explain what stayed null: a readable log has none", () => {
    const r = parseNvidiaSmi(fixture("smi-table.txt") + "| NVIDIA-SMI 700.12   Kernel Driver: 700.12 |\n");
    assert.equal(r.driverVersion, "580.159.04");
    assert.deepEqual(r.notes, []);
});

// ---------------------------------------------------------------------------------------------------------------
// The verdict on an unreadable driver version (issue 15)

test("verdict: an R610 pod log is read and matches an R610 host", () => {
    const log = fixture("h200-610-table.txt") + fixture("h200-610-query-all-fields.csv");
    const r = evaluateVerification({
        jobSucceeded: true, log, node: "n", image: "i", minGpus: 1, hostDriverVersion: "610.43.02", hostGpuUuids: [MASKED_UUID],
    });
    assert.deepEqual(r.reasons, []);
    assert.equal(r.passed, true);
});

test("verdict: an unreadable pod driver version is 'could not read', not a mismatch", () => {
    const log = "| NVIDIA-SMI 700.12      Kernel Driver: 700.12      CUDA Runtime Limit: 14.1     |\n" +
        fixture("h200c-580-query-aliases-noindex.csv").replace(", driver_version", ", gpu.driver").replace(", 580.159.04", ", 700.12");
    const r = evaluateVerification({
        jobSucceeded: true, log, node: "n", image: "i", minGpus: 1, hostDriverVersion: "700.12", hostGpuUuids: [H200C_UUID],
    });
    assert.equal(r.passed, false);
    assert.equal(r.reasons.length, 1);
    assert.match(r.reasons[0] ?? "", /^could not read the driver version from the pod's nvidia-smi output/);
    assert.match(r.reasons[0] ?? "", /no driver version label/);
    assert.ok(!r.reasons.some((x) => x.includes("differs")));
});

// ---------------------------------------------------------------------------------------------------------------
// Merging outputs found in one log

test("merge: the -L UUID fills the table's missing UUID on the same MIG-enabled A100", () => {
    const expected = report("595.91.07", "13.2", [
        gpu(0, "NVIDIA A100-SXM4-40GB", A100_MIG_UUID, 40960, "00000000:00:04.0"),
    ]);
    const table = fixture("a100-mig-595-k8s-table.txt");
    const list = fixture("a100-mig-595-L.txt");
    assert.deepEqual(parseNvidiaSmi(table + list), expected);
    assert.deepEqual(parseNvidiaSmi(list + table), expected);
});

test("merge: a full name from -L or csv beats the table's truncated name, whatever the order", () => {
    // Synthetic -L and csv lines for the V100 of v100-525-truncated-name-table.txt.
    const table = fixture("v100-525-truncated-name-table.txt");
    const uuid = "GPU-0e6ed1b0-0000-4000-8000-000000000001";
    const list = `GPU 0: Tesla V100-SXM2-32GB (UUID: ${uuid})\n`;
    const csv = `index, name, uuid\n0, Tesla V100-SXM2-32GB, ${uuid}\n`;
    const expected = report("525.105.17", "12.0", [
        gpu(0, "Tesla V100-SXM2-32GB", uuid, 32768, "00000000:00:09.0"),
    ]);
    assert.deepEqual(parseNvidiaSmi(table + list), expected);
    assert.deepEqual(parseNvidiaSmi(list + table), expected);
    assert.deepEqual(parseNvidiaSmi(csv + "\n" + table), expected);
});

test("merge: -q blocks join the table's GPU by bus id", () => {
    assert.deepEqual(
        parseNvidiaSmi(fixture("smi-table.txt") + fixture("smi-q-full.txt")),
        report("580.159.04", "13.0", [H200_FULL]),
    );
});

test("merge: every H200 output in one log still describes one GPU", () => {
    const all = ["smi-q-full.txt", "smi-L.txt", "smi-query.csv", "smi-table-processes.txt", "smi-misc.txt"]
        .map(fixture)
        .join("\n");
    assert.deepEqual(parseNvidiaSmi(all), report("580.159.04", "13.0", [H200_FULL]));
});

test("merge: GPUs come out sorted by index even when the log lists them out of order", () => {
    const csv = "index, name, memory.total [MiB]\n2, GPU C, 100 MiB\n0, GPU A, 300 MiB\n1, GPU B, 200 MiB\n";
    assert.deepEqual(
        parseNvidiaSmi(csv).gpus.map((g) => [g.index, g.name, g.memoryTotalMiB]),
        [
            [0, "GPU A", 300],
            [1, "GPU B", 200],
            [2, "GPU C", 100],
        ],
    );
});

// ---------------------------------------------------------------------------------------------------------------
// Format details

test("CRLF and CR line endings parse like LF", () => {
    const text = fixture("smi-combined.txt");
    assert.deepEqual(parseNvidiaSmi(text.replace(/\n/g, "\r\n")), report("580.159.04", "13.0", [H200_FULL]));
    assert.deepEqual(parseNvidiaSmi(text.replace(/\n/g, "\r")), report("580.159.04", "13.0", [H200_FULL]));
});

test("csv: header-less query with units, and N/A values become null", () => {
    const withUnits = fixture("smi-query.csv").split("\n").slice(1).join("\n");
    assert.deepEqual(parseNvidiaSmi(withUnits), report("580.159.04", null, [H200_FULL]));
    const missing = "index, name, uuid, memory.total [MiB], pci.bus_id\n0, NVIDIA A100-SXM4-40GB, [N/A], [Insufficient Permissions], N/A\n";
    assert.deepEqual(parseNvidiaSmi(missing).gpus, [gpu(0, "NVIDIA A100-SXM4-40GB", null, null, null)]);
});

test("csv: a 4-digit lower-case PCI domain is normalised to the csv form", () => {
    assert.deepEqual(parseNvidiaSmi("index, pci.bus_id\n0, 0000:3b:00.0\n").gpus[0]?.busId, "00000000:3B:00.0");
});

test("table header with CUDA Version ERR! or N/A gives a null CUDA version", () => {
    const header = (cuda: string): string =>
        `| NVIDIA-SMI 545.46                 Driver Version: 546.80       CUDA Version: ${cuda}     |\n`;
    const note = (cuda: string): string => `the nvidia-smi banner shows CUDA Version "${cuda}", which is not a version`;
    assert.deepEqual(parseNvidiaSmi(header("ERR!")), report("546.80", null, [], [note("ERR!")]));
    assert.deepEqual(parseNvidiaSmi(header("N/A")), report("546.80", null, [], [note("N/A")]));
});

test("a CUDA version from an unrelated log line is not taken as the driver's", () => {
    assert.deepEqual(parseNvidiaSmi("PyTorch CUDA Version: 12.1\nDriver Version: 999\n"), EMPTY);
});

// ---------------------------------------------------------------------------------------------------------------
// Garbage and damaged input: never throws, never invents GPUs

function deterministicBytes(length: number, seed: number): string {
    let state = seed;
    let out = "";
    for (let i = 0; i < length; i++) {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        out += String.fromCharCode(state % 256);
    }
    return out;
}

test("garbage: empty string, random bytes, JSON, a Docker error", () => {
    const inputs = [
        "",
        deterministicBytes(64 * 1024, 42),
        JSON.stringify({ gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }], driverVersion: "580.159.04" }),
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    ];
    for (const input of inputs) {
        assert.deepEqual(parseNvidiaSmi(input), EMPTY);
    }
});

test("garbage: non-string input does not throw", () => {
    assert.deepEqual(parseNvidiaSmi(undefined as unknown as string), EMPTY);
    assert.deepEqual(parseNvidiaSmi(null as unknown as string), EMPTY);
    assert.deepEqual(parseNvidiaSmi(12 as unknown as string), EMPTY);
});

test("garbage: a 5 MB string of near-miss lines is rejected quickly", () => {
    // Lines built from fragments the parser looks for, to make slow regexes or false positives show up.
    const nearMisses = [
        "|   0  " + " ".repeat(900) + "|",
        "GPU 0: " + "(".repeat(500) + " (UUID: ",
        "| GPU  Name  Bus-Id |",
        "|   7   13   0   0  |      3MiB /  4864MiB | 14      0 |",
        "0, " + "x, ".repeat(40),
        "    Product Name : " + "a".repeat(800),
        "index, " + "x.y [MiB], ".repeat(1500) + "name",
        "0, " + "1 MiB, ".repeat(1499) + "GPU",
        "| NVIDIA-SMI 1 " + "Label: 1 ".repeat(100) + "|",
    ].join("\n");
    const big = nearMisses.repeat(Math.ceil((5 * 1024 * 1024) / nearMisses.length));
    assert.ok(big.length >= 5 * 1024 * 1024);
    const started = Date.now();
    assert.deepEqual(parseNvidiaSmi(big), EMPTY);
    assert.ok(Date.now() - started < 5000, "parsing 5 MB took more than 5 s");
});

test("garbage: a real table before 5 MB of noise is still found; text past the cap is ignored", () => {
    const noise = deterministicBytes(5 * 1024 * 1024, 7);
    assert.deepEqual(parseNvidiaSmi(fixture("smi-table.txt") + noise), report("580.159.04", "13.0", [H200_TABLE]));
    const hidden = "x".repeat(NVIDIA_SMI_MAX_INPUT_CHARS) + "\n" + fixture("smi-table.txt");
    assert.deepEqual(parseNvidiaSmi(hidden), EMPTY);
});

test("a table cut in half reports only the GPUs it fully shows, with their real values", () => {
    const text = fixture("v100x4-396-table.txt");
    const lines = text.split("\n");
    // Cut after GPU 1's memory line: GPUs 0 and 1 are complete, GPUs 2 and 3 are gone.
    const half = lines.slice(0, lines.findIndex((line) => line.startsWith("|   2  "))).join("\n");
    assert.deepEqual(
        parseNvidiaSmi(half),
        report("410.66", null, [
            gpu(0, "Tesla V100-SXM2...", null, 16130, "00000000:15:00.0"),
            gpu(1, "Tesla V100-SXM2...", null, 16130, "00000000:16:00.0"),
        ]),
    );
});

test("every prefix of every fixture parses without inventing a GPU", () => {
    for (const name of [
        "a100x8-mig-450-log.txt",
        "smi-combined.txt",
        "smi-q-full.txt",
        "a100-mig-595-L.txt",
        "wsl2-nvidia-smi-exe-rtx2070-460-wddm-partial.txt",
        "h200-610-q-partial.txt",
        "h200-610-query-all-fields.csv",
    ]) {
        const text = fixture(name);
        const full = parseNvidiaSmi(text).gpus;
        for (let cut = 0; cut <= text.length; cut += 7) {
            for (const found of parseNvidiaSmi(text.slice(0, cut)).gpus) {
                const real = full.find((g) => g.index === found.index);
                assert.ok(real, `${name} cut at ${cut} invented GPU ${found.index}`);
                // A cut can only lose information, or leave the last name or UUID character-truncated.
                assert.ok(real.name.startsWith(found.name), `${name} cut at ${cut}: name ${found.name}`);
                assert.ok(found.busId === null || found.busId === real.busId, `${name} cut at ${cut}: bus id`);
            }
        }
    }
});
