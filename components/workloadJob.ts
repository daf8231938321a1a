import * as crypto from "crypto";
import { VERIFICATION_NAMESPACE_PREFIX } from "./verificationJob";
import { ComputeWorkload, workloadCommand, workloadSlug } from "./workloads";

/** Inputs of one compute workload's Job (vectorAdd, nbody); nvidia-smi keeps today's `buildVerificationJob`. */
export interface WorkloadJobSpec {
    /** Which sample runs. */
    workload: ComputeWorkload;
    /** Image (`verification.images.<workload>`). */
    image: string;
    /** Seconds before Kubernetes fails the Job (`activeDeadlineSeconds`). */
    timeoutSeconds: number;
    /** Free-form re-run token (`verification.runId`); a new value makes a new Job. */
    runId: string;
    /**
     * The nvidia-smi Job's rerun token (host GPU facts, failed attempts, `alwaysRerun`): whatever gives it a fresh
     * Job gives this workload one too, so a failed run is never kept as the answer. Default: `""`.
     */
    rerunToken?: string;
    /** The extended resource the GPU share is asked by (`nvidia.com/gpu.shared` when time-slicing renames it). Default: `nvidia.com/gpu`. */
    resourceName?: string;
}

/**
 * GPUs a compute workload asks for: always one. vectorAdd and nbody use one device; with time-slicing on, one
 * `nvidia.com/gpu` is one share, so the figure nbody reports is what one share delivers.
 */
export const WORKLOAD_GPUS = 1;

/**
 * The Job's name: the workload plus a hash of everything that defines the run (image, command, GPUs, deadline,
 * runId, rerun token), so a change makes a new Job (never a stale log), as `verificationJobName` does for
 * nvidia-smi. The deadline is identity for the same reason as there: a Job that hit it stays Failed.
 */
export function workloadJobName(spec: WorkloadJobSpec): string {
    const identity: unknown[] = [spec.workload, spec.image, WORKLOAD_GPUS, workloadCommand(spec.workload) ?? null, spec.runId, spec.timeoutSeconds];
    if (spec.resourceName && spec.resourceName !== "nvidia.com/gpu") identity.push(spec.resourceName);
    if (spec.rerunToken) identity.push(spec.rerunToken);
    const hash = crypto.createHash("sha256")
        .update(JSON.stringify(identity))
        .digest("hex")
        .slice(0, 10);
    return `gpu-verify-${workloadSlug(spec.workload)}-${hash}`;
}

/**
 * The `batch/v1` Job of one compute workload: same namespace, labels (plus the workload's component label), and
 * no-retry, skip-await shape as the nvidia-smi Job, so the same wait step and the same cleanup apply.
 */
export function buildWorkloadJob(spec: WorkloadJobSpec, namespace: string = VERIFICATION_NAMESPACE_PREFIX) {
    const labels = {
        "app.kubernetes.io/name": "gpu-verification",
        "app.kubernetes.io/managed-by": "gpu-minikube",
        "app.kubernetes.io/component": workloadSlug(spec.workload),
    };
    const command = workloadCommand(spec.workload);
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
            name: workloadJobName(spec),
            namespace,
            labels,
            annotations: { "pulumi.com/skipAwait": "true" },
        },
        spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: spec.timeoutSeconds,
            template: {
                metadata: { labels },
                spec: {
                    restartPolicy: "Never",
                    containers: [{
                        name: workloadSlug(spec.workload),
                        image: spec.image,
                        // The image is pulled on the host and loaded into minikube first.
                        imagePullPolicy: "IfNotPresent",
                        ...(command === undefined ? {} : { command }),
                        resources: { limits: { [spec.resourceName ?? "nvidia.com/gpu"]: String(WORKLOAD_GPUS) } },
                    }],
                },
            },
        },
    };
}
