import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hostScript, parseSummary } from "./hostCommand";
import { buildVerificationJob, verificationNamespace } from "./verificationJob";
import { evaluateVerification, GpuVerificationResult } from "./verificationResult";
import { evaluateSharing, GpuSharingResult, toSharingPods } from "./sharingVerdict";

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
    /**
     * GPU sharing to prove: `replicas` pods, each asking one `resourceName`, must run at once on the
     * host's GPU (then `gpus` is not used: a share is one GPU). Default: none (no sharing check).
     */
    sharing?: { strategy: string; replicas: number; resourceName: string };
}

/**
 * A `batch/v1` Job running `nvidia-smi` on `gpus` GPUs, awaited to completion; its pod's log is
 * read back and parsed into the `gpuVerification` stack output.
 */
export class GpuVerification extends pulumi.ComponentResource {
    /** The `gpuVerification` stack output (with `sharing` when a sharing check ran). */
    readonly result: pulumi.Output<GpuVerificationResult & { sharing?: GpuSharingResult }>;
    /** The Job. */
    readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: GpuVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:GpuVerification", name, {}, opts);
        const spec = {
            image: args.image ?? "nvidia/cuda:12.5.0-base-ubuntu22.04",
            gpus: args.gpus ?? 1,
            timeoutSeconds: args.timeoutSeconds ?? 600,
            runId: args.runId ?? "",
            ...(args.sharing ? { gpus: 1, resourceName: args.sharing.resourceName, pods: args.sharing.replicas } : {}),
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

        // The sharing check's evidence: every pod's container times, log and scheduling reasons.
        const sharingOut = args.sharing ? hostScript(`${name}-sharing`, {
            create: "verification-sharing.sh",
            environment: {
                GM_KUBECONFIG: kubeconfig,
                GM_NAMESPACE: this.job.metadata.namespace,
                GM_JOB_NAME: this.job.metadata.name,
                GM_TIMEOUT_SECONDS: "60",
            },
        }, { parent: this, dependsOn: [wait] }).stdout : pulumi.output("");
        const sharing = args.sharing;

        this.result = pulumi.all([pulumi.unsecret(wait.stdout), args.hostDriverVersion, args.hostGpuUuids, pulumi.unsecret(sharingOut)])
            .apply(([out, hostDriverVersion, hostGpuUuids, sharingStdout]) => {
                const s = parseSummary(out, "verification-wait.sh");
                const base = evaluateVerification({
                    jobSucceeded: s.succeeded === true,
                    log: typeof s.log === "string" ? s.log : "",
                    node: typeof s.node === "string" ? s.node : null,
                    image: spec.image,
                    minGpus: spec.gpus,
                    hostDriverVersion,
                    hostGpuUuids,
                });
                if (!sharing) return base;
                const verdict = evaluateSharing({
                    ...sharing, ...toSharingPods(parseSummary(sharingStdout, "verification-sharing.sh")), hostGpuUuids,
                });
                return {
                    ...base,
                    passed: base.passed && verdict.passed,
                    reasons: [...base.reasons, ...verdict.reasons.map((r) => `GPU sharing: ${r}`)],
                    sharing: verdict,
                };
            });

        this.registerOutputs({ result: this.result });
    }
}
