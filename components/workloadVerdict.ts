import { cudaErrorCodeOf, NbodyReport, parseNbody, parseVectorAdd, quoteLine } from "./cudaSamples";
import { NBODY_WARNING_FRACTION, nbodyReferenceFor } from "./nbodyReference";
import { ComputeWorkload, WorkloadId } from "./workloads";

/** The figures of an nbody log that the output carries, documented where nbody's log is parsed. */
type NbodyFigures = Pick<NbodyReport, "device" | "computeCapability" | "precision" | "bodies" | "iterations"
    | "totalTimeMs" | "billionInteractionsPerSecond" | "gflops">;

/** nbody's figures in `gpuVerification.workloads.nbody.metrics`: those of its log, then the comparison. */
export interface NbodyMetrics extends NbodyFigures {
    /** The published FP32 figure for the same GPU model, if one is known (see `NBODY_REFERENCES`). */
    reference: { gpu: string; gflops: number; bodies: number; source: string } | null;
    /** `gflops / reference.gflops`, rounded to 3 decimals; null without both. */
    fractionOfReference: number | null;
    /** Warnings that do not fail the check: under 10 % of the reference, nbody's own `Warning:` lines. */
    warnings: string[];
}

/** One workload's entry of `gpuVerification.workloads`. */
export interface WorkloadVerdict {
    /** The workload's Job completed and its log shows success. */
    passed: boolean;
    /** Why `passed` is false, one sentence each, quoting the log; empty when it passed. */
    reasons: string[];
    /** Image the Job ran. */
    image: string;
    /** Seconds from the container's start to its end, or null when unknown. */
    durationSeconds: number | null;
    /** The pod's whole log. */
    log: string;
    /** nbody only: its figures. */
    metrics?: NbodyMetrics;
}

/** What is known about one compute workload's run. */
export interface WorkloadEvidence {
    /** The Job completed successfully (the container exited 0). */
    jobSucceeded: boolean;
    /** The pod's log ("" when none could be read). */
    log: string;
    /** Image the Job ran. */
    image: string;
    /** Container run time in seconds, or null. */
    durationSeconds: number | null;
    /** Why the Job did not complete, when the wait step knows (e.g. `Failed: BackoffLimitExceeded (exit 1)`). */
    failure?: string | null;
}

/** What a CUDA error string from the samples means, and what to do; null for ones we have no advice for. */
export function cudaErrorHint(code: string): string | null {
    const c = code.toLowerCase();
    if (c.includes("no kernel image is available")) {
        return "the image's CUDA code was not built for this GPU's architecture (compute capability): use an image built for it";
    }
    if (c.includes("driver version is insufficient")) {
        return "the container's CUDA needs a newer driver than it got (CUDA 12.x needs >= 525.60.13), or the pod did not run " +
            "with the NVIDIA runtime: upgrade the host driver, or use an image with an older CUDA";
    }
    if (c.includes("no cuda-capable device")) {
        return "the container saw no GPU: the pod got no device from the NVIDIA device plugin/runtime";
    }
    if (c.includes("unsupported toolchain") || c.includes("ptx was compiled with an unsupported")) {
        return "the image's PTX is newer than the driver can compile: upgrade the host driver";
    }
    return null;
}

function lastLine(log: string): string | null {
    const nonEmpty = log.split(/\r?\n|\r/).map((l) => l.trim()).filter((l) => l !== "");
    return nonEmpty.length === 0 ? null : quoteLine(nonEmpty[nonEmpty.length - 1]);
}

/** The wait step's own failure text is kept whole up to this length (it ends with the fix, after the found state). */
const MAX_FAILURE_CHARS = 2000;

function jobFailureReason(workload: string, evidence: WorkloadEvidence): string {
    const base = `the ${workload} Job did not complete successfully`;
    if (!evidence.failure) return base;
    // eslint-disable-next-line no-control-regex
    const text = evidence.failure.replace(/[\u0000-\u001f\u007f]/g, " ").trim();
    return `${base} (${text.length > MAX_FAILURE_CHARS ? `${text.slice(0, MAX_FAILURE_CHARS - 3)}...` : text})`;
}

/** vectorAdd passes only on exit 0 and its `Test PASSED` line; anything else fails with the log's own words. */
export function evaluateVectorAdd(evidence: WorkloadEvidence): WorkloadVerdict {
    const report = parseVectorAdd(evidence.log);
    const reasons: string[] = [];
    for (const error of report.errors) {
        const code = cudaErrorCodeOf(error);
        const hint = code === null ? null : cudaErrorHint(code);
        reasons.push(`vectorAdd failed: "${error}"${hint ? ` (${hint})` : ""}`);
    }
    if (!evidence.jobSucceeded) reasons.push(jobFailureReason("vectorAdd", evidence));
    if (!report.testPassed && report.errors.length === 0) {
        const last = lastLine(evidence.log);
        reasons.push(`vectorAdd printed no "Test PASSED" line${last ? `; its last line was "${last}"` : " (empty log)"}`);
    }
    return {
        passed: reasons.length === 0 && report.testPassed && evidence.jobSucceeded,
        reasons,
        image: evidence.image,
        durationSeconds: evidence.durationSeconds,
        log: evidence.log,
    };
}

function nbodyMetrics(report: NbodyReport): NbodyMetrics {
    const ref = nbodyReferenceFor(report.device);
    const comparable = ref !== null && report.gflops !== null && report.precision === "single";
    const fraction = comparable ? Math.round((report.gflops! / ref!.gflops) * 1000) / 1000 : null;
    const warnings = [...report.warnings];
    if (comparable && report.gflops! < NBODY_WARNING_FRACTION * ref!.gflops) {
        warnings.push(`nbody reached ${report.gflops} GFLOP/s, under ${NBODY_WARNING_FRACTION * 100} % of the ${ref!.gflops} GFLOP/s ` +
            `published for ${ref!.gpu} (${ref!.bodies} bodies; ${ref!.source}): a shared (time-sliced) GPU, a throttled ` +
            `GPU or another GPU than expected`);
    }
    return {
        device: report.device,
        computeCapability: report.computeCapability,
        precision: report.precision,
        bodies: report.bodies,
        iterations: report.iterations,
        totalTimeMs: report.totalTimeMs,
        billionInteractionsPerSecond: report.billionInteractionsPerSecond,
        gflops: report.gflops,
        reference: ref === null ? null : { gpu: ref.gpu, gflops: ref.gflops, bodies: ref.bodies, source: ref.source },
        fractionOfReference: fraction,
        warnings,
    };
}

/**
 * nbody passes when it exits 0 and prints its GFLOP/s line; no performance threshold fails it (none could be
 * justified across GPUs and sharing modes), but a figure under 10 % of a published one for the same GPU warns.
 */
export function evaluateNbody(evidence: WorkloadEvidence): WorkloadVerdict {
    const report = parseNbody(evidence.log);
    const reasons = report.errors.map((e) => `nbody failed: "${e}"`);
    if (!evidence.jobSucceeded) reasons.push(jobFailureReason("nbody", evidence));
    if (report.gflops === null && report.errors.length === 0) {
        const last = lastLine(evidence.log);
        reasons.push(`nbody printed no "GFLOP/s" result line${last ? `; its last line was "${last}"` : " (empty log)"}`);
    }
    return {
        passed: reasons.length === 0,
        reasons,
        image: evidence.image,
        durationSeconds: evidence.durationSeconds,
        log: evidence.log,
        metrics: nbodyMetrics(report),
    };
}

/** The verdict of a compute workload from its evidence. */
export function evaluateWorkload(workload: ComputeWorkload, evidence: WorkloadEvidence): WorkloadVerdict {
    return workload === "vectorAdd" ? evaluateVectorAdd(evidence) : evaluateNbody(evidence);
}

/** The top-level verdict of several workloads: passed only if every one passed; reasons name their workload. */
export function combineWorkloads(workloads: Partial<Record<WorkloadId, WorkloadVerdict>>): { passed: boolean; reasons: string[] } {
    const entries = Object.entries(workloads) as Array<[WorkloadId, WorkloadVerdict]>;
    return {
        passed: entries.length > 0 && entries.every(([, v]) => v.passed),
        reasons: entries.flatMap(([id, v]) => v.reasons.map((r) => `${id}: ${r}`)),
    };
}

/** The fields of the nvidia-smi verdict (`GpuVerificationResult`) that its workload entry repeats. */
export interface NvidiaSmiOutcome {
    /** nvidia-smi's own verdict. */
    passed: boolean;
    /** Its reasons. */
    reasons: string[];
    /** Its image. */
    image: string;
    /** Its pod log. */
    log: string;
}

/**
 * The `gpuVerification` output with every configured workload: today's top-level fields stay (from the
 * nvidia-smi run when it ran), `workloads` holds one verdict per workload in the configured order, and the
 * top-level `passed` requires all of them; other workloads' reasons follow nvidia-smi's, prefixed with their name.
 * `base` is null when nvidia-smi is not among the workloads: the top-level fields are then the empty ones given.
 */
export function withWorkloads<T extends NvidiaSmiOutcome>(
    base: T,
    nvidiaSmiRan: boolean,
    nvidiaSmiDurationSeconds: number | null,
    others: Array<[ComputeWorkload, WorkloadVerdict]>,
    order: readonly WorkloadId[],
): T & { workloads: Partial<Record<WorkloadId, WorkloadVerdict>> } {
    const byId: Partial<Record<WorkloadId, WorkloadVerdict>> = Object.fromEntries(others);
    if (nvidiaSmiRan) {
        byId["nvidia-smi"] = {
            passed: base.passed, reasons: base.reasons, image: base.image, durationSeconds: nvidiaSmiDurationSeconds, log: base.log,
        };
    }
    const workloads: Partial<Record<WorkloadId, WorkloadVerdict>> = {};
    for (const id of order) if (byId[id]) workloads[id] = byId[id];
    const otherReasons = others.flatMap(([id, v]) => v.reasons.map((r) => `${id}: ${r}`));
    const all = Object.values(workloads);
    return {
        ...base,
        passed: all.length > 0 && all.every((v) => v.passed),
        reasons: [...(nvidiaSmiRan ? base.reasons : []), ...otherReasons],
        workloads,
    };
}
