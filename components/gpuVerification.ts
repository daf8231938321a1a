import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hostScript, parseSummary } from "./hostCommand";
import { buildVerificationJob, verificationNamespace } from "./verificationJob";
import { evaluateVerification, GpuVerificationResult } from "./verificationResult";
import { ComputeWorkload, WorkloadId } from "./workloads";
import { runWorkload, secondsBetween } from "./workloadRun";
import { withWorkloads, WorkloadVerdict } from "./workloadVerdict";

/** Arguments of {@link GpuVerification}. */
export interface GpuVerificationArgs {
    /** minikube profile the image is loaded into. */
    profile: string;
    /** The cluster's kubeconfig (secret), for the log step; never the ambient context. */
    kubeconfig: pulumi.Input<string>;
    /** The cluster's explicit Kubernetes provider. */
    provider: k8s.Provider;
    /** CUDA image. Default: `"nvidia/cuda:12.5.0-base-ubuntu22.04"`. */
    image?: string;
    /** `limits: nvidia.com/gpu`, and the minimum GPUs the pod must see. Default: `1`. */
    gpus?: number;
    /** Deadline in seconds for the Job (Kubernetes' `activeDeadlineSeconds` and our wait). Default: `600`. */
    timeoutSeconds?: number;
    /** Change to run the check again with nothing else changed. Default: `""`. */
    runId?: string;
    /** Host driver version (from preflight) the pod's must equal. */
    hostDriverVersion: pulumi.Input<string | null>;
    /** Host GPU UUIDs (from preflight); every UUID the pod sees must be one of them. */
    hostGpuUuids: pulumi.Input<string[]>;
    /**
     * Changes whenever the cluster was (re)started or recreated; the image is loaded again then, and
     * the Job runs again in a new namespace. Default: none (a fixed namespace).
     */
    clusterStartToken?: pulumi.Input<string>;
    /** Steps the Job must wait for: the device plugin having reported allocatable GPUs. Default: none. */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
    /** `verification.workloads`, nvidia-smi first; the others run after it, one by one. Default: `["nvidia-smi"]`. */
    workloads?: readonly WorkloadId[];
    /** Image per compute workload (`verification.images`); required for each one in `workloads`. Default: none. */
    workloadImages?: Partial<Record<ComputeWorkload, string>>;
    /** The host's pulled image id per compute workload (WorkloadImages), so a new digest loads again. Default: none. */
    workloadImageIds?: Partial<Record<ComputeWorkload, pulumi.Input<string>>>;
}

/**
 * A `batch/v1` Job running `nvidia-smi` on `gpus` GPUs, awaited to completion; its pod's log is
 * read back and parsed into the `gpuVerification` stack output.
 */
export class GpuVerification extends pulumi.ComponentResource {
    /** The `gpuVerification` stack output. */
    readonly result: pulumi.Output<GpuVerificationResult>;
    /** The Job. */
    readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: GpuVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:GpuVerification", name, {}, opts);
        const spec = {
            image: args.image ?? "nvidia/cuda:12.5.0-base-ubuntu22.04",
            gpus: args.gpus ?? 1,
            timeoutSeconds: args.timeoutSeconds ?? 600,
            runId: args.runId ?? "",
        };
        const manifest = buildVerificationJob(spec);
        const kubeconfig = pulumi.secret(args.kubeconfig);

        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: {
                name: pulumi.output(args.clusterStartToken ?? "").apply(verificationNamespace),
                labels: manifest.metadata.labels,
            },
        }, { parent: this, provider: args.provider });

        // The host pulled the image already; loading it into minikube keeps the ~240 MB pull off
        // the Job's critical path.
        const imageLoad = hostScript(`${name}-image-load`, {
            create: "minikube-image-load.sh",
            environment: {
                GM_PROFILE: args.profile,
                GM_IMAGE: spec.image,
                GM_CLUSTER_START_TOKEN: args.clusterStartToken ?? "",
            },
        }, { parent: this, dependsOn: args.dependsOn });

        this.job = new k8s.batch.v1.Job(`${name}-job`, {
            metadata: { ...manifest.metadata, namespace: namespace.metadata.name },
            spec: manifest.spec,
        }, {
            parent: this,
            provider: args.provider,
            dependsOn: [imageLoad, ...(args.dependsOn ?? [])],
            customTimeouts: { create: `${spec.timeoutSeconds}s` },
        });

        const wait = hostScript(`${name}-wait`, {
            create: "verification-wait.sh",
            environment: {
                GM_KUBECONFIG: kubeconfig,
                GM_NAMESPACE: this.job.metadata.namespace,
                GM_JOB_NAME: this.job.metadata.name,
                GM_TIMEOUT_SECONDS: String(spec.timeoutSeconds),
            },
        }, { parent: this, dependsOn: [this.job] });

        const nvidiaSmi = pulumi.all([pulumi.unsecret(wait.stdout), args.hostDriverVersion, args.hostGpuUuids])
            .apply(([out, hostDriverVersion, hostGpuUuids]) => {
                const s = parseSummary(out, "verification-wait.sh");
                return evaluateVerification({
                    jobSucceeded: s.succeeded === true,
                    log: typeof s.log === "string" ? s.log : "",
                    node: typeof s.node === "string" ? s.node : null,
                    image: spec.image,
                    minGpus: spec.gpus,
                    hostDriverVersion,
                    hostGpuUuids,
                });
            });

        // vectorAdd, nbody: one Job each, after nvidia-smi and after each other (never side by side).
        const order = args.workloads ?? ["nvidia-smi"];
        let previous: pulumi.Resource = wait;
        const verdicts: Array<pulumi.Output<[ComputeWorkload, WorkloadVerdict]>> = [];
        for (const workload of order.filter((w): w is ComputeWorkload => w !== "nvidia-smi")) {
            const image = args.workloadImages?.[workload];
            if (image === undefined) throw new Error(`GpuVerification: no image for workload ${workload} (verification.images.${workload})`);
            const run = runWorkload(name, {
                workload, image, hostImageId: args.workloadImageIds?.[workload], profile: args.profile, kubeconfig,
                provider: args.provider, namespace: namespace.metadata.name, clusterStartToken: args.clusterStartToken ?? "",
                timeoutSeconds: spec.timeoutSeconds, runId: spec.runId, dependsOn: [previous],
            }, this);
            previous = run.wait;
            verdicts.push(run.verdict.apply((v): [ComputeWorkload, WorkloadVerdict] => [workload, v]));
        }
        const smiDuration = pulumi.unsecret(wait.stdout).apply((out) => {
            const s = parseSummary(out, "verification-wait.sh");
            return secondsBetween(s.startedAt, s.finishedAt);
        });
        this.result = pulumi.all([nvidiaSmi, smiDuration, pulumi.all(verdicts)])
            .apply(([smi, duration, others]) => withWorkloads(smi, true, duration, others, order));

        this.registerOutputs({ result: this.result });
    }
}
