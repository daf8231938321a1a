import { NvidiaSmiGpu, parseNvidiaSmi } from "./nvidiaSmi";
import { WorkloadId } from "./workloads";
import { WorkloadVerdict } from "./workloadVerdict";

/**
 * The `gpuVerification` stack output, read by pipelines (`jq -e '.passed == true'`).
 *
 * The contract: a verification that ran and failed is a *successful* step whose output says
 * `passed: false` with `reasons`; the gate step after it then fails `pulumi up` with the same
 * reasons. So a pipeline can trust either the exit status of `pulumi up` or this output — and must
 * treat a missing output (a failed first `up` saves none) as not verified.
 */
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
    /** When the verification step finished (UTC, ISO 8601); null when the step did not say. */
    verifiedAt: string | null;
    /** The cluster incarnation the check ran on (changes whenever the cluster was started or recreated). */
    clusterIncarnation: string;
    /** The verification Job (`<namespace>/<name>`); null when unknown. */
    job: string | null;
    /** One verdict per configured workload (`verification.workloads`), in that order. Set by GpuVerification. */
    workloads?: Partial<Record<WorkloadId, WorkloadVerdict>>;
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
    /** Host driver version, read on this `up` (a read-only probe). */
    hostDriverVersion: string | null;
    /** Host GPU UUIDs, read on this `up`. */
    hostGpuUuids: string[];
    /** Why the Job did not complete (the wait step's error: what, found, fix). Default: none. */
    failure?: string | null;
    /** When the verification step finished. Default: `null`. */
    verifiedAt?: string | null;
    /** The cluster incarnation the Job ran on. Default: `""`. */
    clusterIncarnation?: string;
    /** The Job as `<namespace>/<name>`. Default: `null`. */
    job?: string | null;
}

/**
 * Parses the pod log and decides `passed`: the Job completed, the pod saw at least `minGpus`
 * GPUs, its driver version equals the host's, and every GPU UUID it saw is one of the host's
 * (nvkind's end-to-end check: the GPU inside the cluster is really this host's GPU).
 */
export function evaluateVerification(evidence: VerificationEvidence): GpuVerificationResult {
    const report = parseNvidiaSmi(evidence.log);
    const reasons: string[] = [];
    if (!evidence.jobSucceeded) {
        reasons.push(`the verification Job did not complete successfully${evidence.failure ? `: ${evidence.failure}` : ""}`);
    }
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
        verifiedAt: evidence.verifiedAt ?? null,
        clusterIncarnation: evidence.clusterIncarnation ?? "",
        job: evidence.job ?? null,
    };
}
