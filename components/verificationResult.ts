import { NvidiaSmiGpu, parseNvidiaSmi } from "./nvidiaSmi";

/** The `gpuVerification` stack output, read by pipelines (`jq -e .passed`). */
export interface GpuVerificationResult {
    /** True only if every check held (see {@link evaluateVerification}). */
    passed: boolean;
    /** Why `passed` is false, one sentence each; empty when it passed. */
    reasons: string[];
    /** Driver version the pod saw. */
    driverVersion: string | null;
    /** CUDA version the pod saw. */
    cudaVersion: string | null;
    /** GPUs the pod saw. */
    gpus: NvidiaSmiGpu[];
    /** Node the pod ran on. */
    node: string | null;
    /** Image the Job ran. */
    image: string;
    /** The pod's whole log. */
    log: string;
}

/** What the verification needs to know about the run and the host. */
export interface VerificationEvidence {
    /** The Job completed successfully. */
    jobSucceeded: boolean;
    /** The pod's log. */
    log: string;
    /** Node the pod ran on. */
    node: string | null;
    /** Image the Job ran. */
    image: string;
    /** Minimum GPUs the pod must see (`verification.gpus`). */
    minGpus: number;
    /** Host driver version from preflight. */
    hostDriverVersion: string | null;
    /** Host GPU UUIDs from preflight. */
    hostGpuUuids: string[];
}

/**
 * Parses the pod log and decides `passed`: the Job completed, the pod saw at least `minGpus`
 * GPUs, its driver version equals the host's, and every GPU UUID it saw is one of the host's
 * (nvkind's end-to-end check: the GPU inside the cluster is really this host's GPU).
 */
export function evaluateVerification(evidence: VerificationEvidence): GpuVerificationResult {
    const report = parseNvidiaSmi(evidence.log);
    const reasons: string[] = [];
    if (!evidence.jobSucceeded) reasons.push("the verification Job did not complete successfully");
    if (report.gpus.length < evidence.minGpus) {
        reasons.push(`the pod saw ${report.gpus.length} GPU(s); verification.gpus requires at least ${evidence.minGpus}`);
    }
    if (evidence.hostDriverVersion === null || evidence.hostDriverVersion === "") {
        reasons.push("the host driver version is unknown, so the pod's driver could not be compared");
    } else if (report.driverVersion === null) {
        // Unreadable is not a mismatch: say why it could not be read (e.g. a banner label this parser does not know).
        const why = report.notes.length > 0 ? ` (${report.notes.join("; ")})` : "";
        reasons.push(`could not read the driver version from the pod's nvidia-smi output${why}, so it could not be compared with the host's (${evidence.hostDriverVersion})`);
    } else if (report.driverVersion !== evidence.hostDriverVersion) {
        reasons.push(`driver version in the pod (${report.driverVersion ?? "none seen"}) differs from the host's (${evidence.hostDriverVersion})`);
    }
    const hostUuids = new Set(evidence.hostGpuUuids);
    for (const gpu of report.gpus) {
        if (gpu.uuid === null) reasons.push(`GPU ${gpu.index} in the pod showed no UUID, so it could not be matched to a host GPU`);
        else if (!hostUuids.has(gpu.uuid)) reasons.push(`GPU ${gpu.index} in the pod (${gpu.uuid}) is not one of the host's GPUs`);
    }
    return {
        passed: reasons.length === 0,
        reasons,
        driverVersion: report.driverVersion,
        cudaVersion: report.cudaVersion,
        gpus: report.gpus,
        node: evidence.node,
        image: evidence.image,
        log: evidence.log,
    };
}
