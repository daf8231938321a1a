// Parsers for what NVIDIA's CUDA samples `vectorAdd` and `nbody -benchmark` print (the cuda-sample images'
// pod logs). Their exact lines come from the samples' sources (NVIDIA/cuda-samples
// Samples/0_Introduction/vectorAdd/vectorAdd.cu, Samples/5_Domain_Specific/nbody/nbody.cpp, Common/helper_cuda.h)
// and from the real outputs in test/fixtures/cuda-samples (see its SOURCES.md). A pod log mixes stdout and stderr,
// and stdout is block-buffered in a container, so error lines often come *before* the lines printed earlier:
// the parsers never rely on line order between the two streams.

/** Logs longer than this are cut (from the start) before parsing, so a runaway log cannot stall the program. */
export const CUDA_SAMPLE_MAX_INPUT_CHARS = 1_000_000;
/** A quoted log line is cut to this many characters in reasons. */
const MAX_QUOTED_LINE = 300;

/** What a `vectorAdd` log says. */
export interface VectorAddReport {
    /** `N` from `[Vector addition of N elements]`, or null if that line is missing. */
    elements: number | null;
    /** The sample printed `Test PASSED` (it does so only after checking every element on the host). */
    testPassed: boolean;
    /** The sample's own error lines, verbatim (`Failed to … (error code …)!`, `Result verification failed …`, `CUDA error at …`). */
    errors: string[];
    /** The CUDA error strings inside `(error code …)`, e.g. `no kernel image is available for execution on the device`. */
    errorCodes: string[];
}

/** What an `nbody -benchmark` log says. */
export interface NbodyReport {
    /** GPU name from `> Compute X.Y CUDA device: [NAME]`. */
    device: string | null;
    /** Compute capability from the same line, e.g. `"9.0"`. */
    computeCapability: string | null;
    /** `single` (FP32, the default) or `double` (`-fp64`). */
    precision: "single" | "double" | null;
    /** Bodies simulated (after nbody rounds up to a multiple of 256). */
    bodies: number | null;
    /** Timed iterations. */
    iterations: number | null;
    /** Total time of the timed iterations in milliseconds. */
    totalTimeMs: number | null;
    /** `= X billion interactions per second`. */
    billionInteractionsPerSecond: number | null;
    /** `= X single-precision GFLOP/s at N flops per interaction`. */
    gflops: number | null;
    /** `N` of `at N flops per interaction` (20 for FP32, 30 for FP64). */
    flopsPerInteraction: number | null;
    /** Error lines, verbatim (`CUDA error at … code=N(cudaError…)`, `Error: …`, `Failed …`). */
    errors: string[];
    /** The sample's own warnings, verbatim (`Warning: …`, `MapSMtoCores for SM X.Y is undefined …`). */
    warnings: string[];
}

function lines(log: unknown): string[] {
    if (typeof log !== "string" || log.length === 0) return [];
    const text = log.length > CUDA_SAMPLE_MAX_INPUT_CHARS ? log.slice(log.length - CUDA_SAMPLE_MAX_INPUT_CHARS) : log;
    return text.split(/\r?\n|\r/);
}

function finiteNumber(text: string): number | null {
    const n = Number(text);
    return Number.isFinite(n) ? n : null;
}

function safeInt(text: string): number | null {
    const n = finiteNumber(text);
    return n !== null && Number.isSafeInteger(n) ? n : null;
}

/** A log line fit to quote in a reason: trimmed, control characters shown as spaces, bounded length. */
export function quoteLine(line: string): string {
    // eslint-disable-next-line no-control-regex
    const clean = line.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
    return clean.length > MAX_QUOTED_LINE ? `${clean.slice(0, MAX_QUOTED_LINE - 3)}...` : clean;
}

const CUDA_ERROR_AT = /CUDA error at \S+ code=\d+\([A-Za-z0-9_]+\)/;
const ERROR_CODE = /\(error code ([^()]{1,200})\)/;

/** The CUDA error string inside a sample's `(error code …)`, or null. */
export function cudaErrorCodeOf(line: string): string | null {
    const code = ERROR_CODE.exec(line);
    return code ? code[1].trim() : null;
}

/** Parses a `vectorAdd` log. Never throws: garbage and truncated logs give empty fields. */
export function parseVectorAdd(log: unknown): VectorAddReport {
    const report: VectorAddReport = { elements: null, testPassed: false, errors: [], errorCodes: [] };
    for (const raw of lines(log)) {
        const line = raw.trim();
        if (line === "") continue;
        const elements = /^\[Vector addition of (\d{1,12}) elements\]$/.exec(line);
        if (elements) {
            report.elements = safeInt(elements[1]);
        } else if (line === "Test PASSED") {
            report.testPassed = true;
        } else if (/^Failed to /.test(line) || /^Result verification failed/.test(line) || CUDA_ERROR_AT.test(line)) {
            report.errors.push(quoteLine(line));
            const code = cudaErrorCodeOf(line);
            if (code !== null) report.errorCodes.push(code);
        }
    }
    return report;
}

/** Parses an `nbody -benchmark` log. Never throws: garbage and truncated logs give null fields. */
export function parseNbody(log: unknown): NbodyReport {
    const report: NbodyReport = {
        device: null, computeCapability: null, precision: null, bodies: null, iterations: null, totalTimeMs: null,
        billionInteractionsPerSecond: null, gflops: null, flopsPerInteraction: null, errors: [], warnings: [],
    };
    for (const raw of lines(log)) {
        // Published copies are sometimes quoted in Markdown ("> 40960 bodies, …"); nbody's own "> " lines are
        // matched with or without it.
        const line = raw.trim().replace(/^>\s*/, "");
        if (line === "") continue;
        let m: RegExpExecArray | null;
        if ((m = /^Compute (\d{1,3}\.\d{1,3}) CUDA device: \[(.{1,200})\]$/.exec(line))) {
            report.computeCapability = m[1];
            report.device = m[2].trim();
        } else if ((m = /^(Single|Double) precision floating point simulation$/.exec(line))) {
            report.precision = m[1] === "Single" ? "single" : "double";
        } else if ((m = /^(\d{1,12}) bodies, total time for (\d{1,12}) iterations: ([0-9]{1,15}(?:\.[0-9]{1,12})?) ms$/.exec(line))) {
            report.bodies = safeInt(m[1]);
            report.iterations = safeInt(m[2]);
            report.totalTimeMs = finiteNumber(m[3]);
        } else if ((m = /^= ([0-9]{1,15}(?:\.[0-9]{1,12})?) billion interactions per second$/.exec(line))) {
            report.billionInteractionsPerSecond = finiteNumber(m[1]);
        } else if ((m = /^= ([0-9]{1,15}(?:\.[0-9]{1,12})?) (single|double)-precision GFLOP\/s at (\d{1,4}) flops per interaction$/.exec(line))) {
            report.gflops = finiteNumber(m[1]);
            report.precision = m[2] as "single" | "double";
            report.flopsPerInteraction = safeInt(m[3]);
        } else if (CUDA_ERROR_AT.test(line) || /^Error[: ]/.test(line) || /^Failed /.test(line) || /^Required OpenGL extensions missing/.test(line)) {
            report.errors.push(quoteLine(line));
        } else if (/^Warning: /.test(line) || /^MapSMto\w+ for SM \S+ is undefined/.test(line)) {
            report.warnings.push(quoteLine(line));
        }
    }
    return report;
}
