import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { withDependsOn } from "./dependsOn";
import { hostProbe, hostScript, parseSummary } from "./hostCommand";
import { verificationGate } from "./verificationGate";
import { buildVerificationJob, VERIFICATION_NAMESPACE_PREFIX, verificationJobName, verificationNamespace } from "./verificationJob";
import { evaluateVerification, GpuVerificationResult } from "./verificationResult";
import { ComputeWorkload, WorkloadId } from "./workloads";
import { runWorkload, secondsBetween } from "./workloadRun";
import { withWorkloads, WorkloadVerdict } from "./workloadVerdict";
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
    /**
     * The host's pulled id of `image` (HostPrep's `cudaImage.imageId`): the image load runs again when it changes, and
     * loads the host's image when the node lists the name at another id (a moved tag). Default: none (a name the node
     * lists is not loaded again).
     */
    imageId?: pulumi.Input<string>;
    /** `limits: nvidia.com/gpu`, and the minimum GPUs the pod must see. Default: `1`. */
    gpus?: number;
    /** Deadline in seconds for the Job (Kubernetes' `activeDeadlineSeconds` and our wait). Default: `600`. */
    timeoutSeconds?: number;
    /** Change to run the check again with nothing else changed. Default: `""`. */
    runId?: string;
    /**
     * Run a fresh verification Job on every `up`, even when nothing it depends on changed (for
     * pipelines that need a fresh answer each time). A value new on every run is part of the Job's
     * identity, so this cannot be combined with `pulumi up --plan`. Default: `false`.
     */
    alwaysRerun?: boolean;
    /** Host driver version, read on this `up`; the pod's must equal it. */
    hostDriverVersion: pulumi.Input<string | null>;
    /** Host GPU UUIDs, read on this `up`; every UUID the pod sees must be one of them. */
    hostGpuUuids: pulumi.Input<string[]>;
    /**
     * Changes whenever the cluster was (re)started or recreated; the image is loaded again then, and
     * the Job runs again in a new namespace. Default: none (a fixed namespace).
     */
    clusterStartToken?: pulumi.Input<string>;
    /**
     * The resource whose deletion takes the cluster away (`minikube delete`): the namespace and the
     * Job die with it, so destroy does not talk to an API server that is about to vanish. Default: none.
     */
    deletedWith?: pulumi.Resource;
    /** `verification.workloads`, nvidia-smi first; the others run after it, one by one. Default: `["nvidia-smi"]`. */
    workloads?: readonly WorkloadId[];
    /** Image per compute workload (`verification.images`); required for each one in `workloads`. Default: none. */
    workloadImages?: Partial<Record<ComputeWorkload, string>>;
    /** The host's pulled image id per compute workload (WorkloadImages): each image load waits for its pull. Default: none. */
    workloadImageIds?: Partial<Record<ComputeWorkload, pulumi.Input<string>>>;
    /**
     * GPU sharing to prove: `replicas` pods, each asking one `resourceName`, must run at once on the
     * host's GPU (then `gpus` is not used: a share is one GPU). Default: none (no sharing check).
     */
    sharing?: { strategy: string; replicas: number; resourceName: string };
}

/** A short hash of the values that must give the verification a fresh Job when they change. */
export function rerunToken(parts: unknown[]): string {
    return crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

/**
 * The verification Job's spec from the component's arguments, with their defaults. With sharing,
 * `replicas` pods run at once and each asks for one share of `resourceName` (a share is one GPU, so
 * `gpus` is 1: config validation refuses `verification.gpus` above 1 with sharing on).
 */
export function verificationJobSpec(args: Pick<GpuVerificationArgs, "image" | "gpus" | "timeoutSeconds" | "runId" | "sharing">) {
    return {
        image: args.image ?? "nvidia/cuda:12.5.0-base-ubuntu22.04",
        gpus: args.gpus ?? 1,
        timeoutSeconds: args.timeoutSeconds ?? 600,
        runId: args.runId ?? "",
        ...(args.sharing ? { gpus: 1, resourceName: args.sharing.resourceName, pods: args.sharing.replicas } : {}),
    };
}

/**
 * A `batch/v1` Job running `nvidia-smi` on `gpus` GPUs, awaited to completion; its pod's log is
 * read back and parsed into the `gpuVerification` stack output. Then one Job per further workload
 * (`workloads`: vectorAdd, nbody), one after the other, each verdict in `gpuVerification.workloads`. A failed verification is recorded
 * (`passed: false` with reasons), and a gate step then fails `pulumi up` with the same reasons.
 *
 * Pass the previous stage through the component's `dependsOn` option: its children wait for it.
 */
export class GpuVerification extends pulumi.ComponentResource {
    /** The `gpuVerification` stack output (with `sharing` when a sharing check ran). */
    readonly result: pulumi.Output<GpuVerificationResult & { sharing?: GpuSharingResult }>;
    /** The Job. */
    readonly job: k8s.batch.v1.Job;
    /** The step that fails `pulumi up` when the verification did not pass; depend on it to run only on verified GPUs. */
    readonly gate: pulumi.Resource;

    constructor(name: string, args: GpuVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:GpuVerification", name, {}, opts);
        const spec = verificationJobSpec(args);
        const manifest = buildVerificationJob(spec);
        const kubeconfig = pulumi.secret(args.kubeconfig);
        const startToken = pulumi.output(args.clusterStartToken ?? "");
        const namespaceName = startToken.apply(verificationNamespace);
        // The namespace's hash suffix names the cluster incarnation ("" without a start token).
        const incarnation = namespaceName.apply((ns) => ns.slice(VERIFICATION_NAMESPACE_PREFIX.length + 1));

        // Read-only, on every preview and up: the failed attempts on this profile. A new count gives
        // the next `up` after a failure a fresh Job instead of the failed one forever.
        const observed = hostProbe("verification-observe.sh", { GM_PROFILE: args.profile }, { parent: this });
        const failedAttempts = observed.apply((out) => Number(parseSummary(out, "verification-observe.sh").failedAttempts ?? 0));
        // New on every run only when asked to: both the preview and the update phase get their own.
        const nonce = args.alwaysRerun ? new Date().toISOString() : "";
        const token = pulumi.all([args.hostDriverVersion, args.hostGpuUuids, failedAttempts])
            .apply(([driver, uuids, attempts]) => rerunToken([driver, [...uuids].sort(), attempts, nonce]));
        const jobName = token.apply((t) => verificationJobName({ ...spec, rerunToken: t }));

        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: { name: namespaceName, labels: manifest.metadata.labels },
        }, { parent: this, provider: args.provider, deletedWith: args.deletedWith, dependsOn: opts?.dependsOn });

        // The host pulled the image already; loading it into minikube keeps the ~240 MB pull off
        // the Job's critical path.
        const imageLoad = hostScript(`${name}-image-load`, {
            create: "minikube-image-load.sh",
            environment: {
                GM_PROFILE: args.profile,
                GM_IMAGE: spec.image,
                GM_CLUSTER_START_TOKEN: startToken,
                GM_IMAGE_ID: args.imageId ?? "",
            },
        }, { parent: this, dependsOn: opts?.dependsOn });

        this.job = new k8s.batch.v1.Job(`${name}-job`, {
            metadata: { ...manifest.metadata, name: jobName, namespace: namespace.metadata.name },
            spec: manifest.spec,
        }, {
            parent: this,
            provider: args.provider,
            dependsOn: withDependsOn(opts?.dependsOn, imageLoad),
            customTimeouts: { create: `${spec.timeoutSeconds}s` },
            // The name is a hash of the check: when it comes back (gpus 1 → 2 → 1), the old Job of
            // that name must be gone before the new one is created, or the create fails with
            // AlreadyExists. Delete-first also frees the GPU the old pod may hold.
            deleteBeforeReplace: true,
            deletedWith: args.deletedWith,
        });

        const wait = hostScript(`${name}-wait`, {
            create: "verification-wait.sh",
            environment: {
                GM_KUBECONFIG: kubeconfig,
                GM_PROFILE: args.profile,
                GM_NAMESPACE: this.job.metadata.namespace,
                GM_JOB_NAME: this.job.metadata.name,
                // The Job as the cluster has it: a Job recreated by `pulumi up --refresh` (after an
                // out-of-band delete) has a new uid, which runs this step again.
                GM_JOB_UID: this.job.metadata.uid,
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
                GM_JOB_UID: this.job.metadata.uid,
                GM_TIMEOUT_SECONDS: "60",
            },
        }, { parent: this, dependsOn: [wait] }).stdout : pulumi.output("");
        const sharing = args.sharing;

        const nvidiaSmi = pulumi.all([pulumi.unsecret(wait.stdout), args.hostDriverVersion, args.hostGpuUuids, namespaceName, incarnation,
            pulumi.unsecret(sharingOut)])
            .apply(([out, hostDriverVersion, hostGpuUuids, ns, clusterIncarnation, sharingStdout]) => {
                const s = parseSummary(out, "verification-wait.sh");
                const base = evaluateVerification({
                    jobSucceeded: s.succeeded === true,
                    log: typeof s.log === "string" ? s.log : "",
                    node: typeof s.node === "string" ? s.node : null,
                    image: spec.image,
                    minGpus: spec.gpus,
                    hostDriverVersion,
                    hostGpuUuids,
                    failure: typeof s.failure === "string" ? s.failure : null,
                    verifiedAt: typeof s.verifiedAt === "string" ? s.verifiedAt : null,
                    clusterIncarnation,
                    job: typeof s.jobName === "string" ? `${ns}/${s.jobName}` : null,
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

        // vectorAdd, nbody: one Job each, after nvidia-smi and after each other (never side by side); their images
        // load one after the other while the earlier Jobs run.
        const order = args.workloads ?? ["nvidia-smi"];
        let previous: pulumi.Resource = wait;
        let previousLoad: pulumi.Resource = imageLoad;
        const verdicts: Array<pulumi.Output<[ComputeWorkload, WorkloadVerdict]>> = [];
        for (const workload of order.filter((w): w is ComputeWorkload => w !== "nvidia-smi")) {
            const image = args.workloadImages?.[workload];
            if (image === undefined) throw new Error(`GpuVerification: no image for workload ${workload} (verification.images.${workload})`);
            const run = runWorkload(name, {
                workload, image, hostImageId: args.workloadImageIds?.[workload], profile: args.profile, kubeconfig,
                provider: args.provider, namespace: namespace.metadata.name, clusterStartToken: startToken,
                timeoutSeconds: spec.timeoutSeconds, runId: spec.runId, rerunToken: token,
                // With time-slicing, one share of the resource the plugin advertises (`nvidia.com/gpu.shared` when renamed).
                resourceName: args.sharing?.resourceName,
                loadAfter: [previousLoad], runAfter: [previous],
                deletedWith: args.deletedWith,
            }, this);
            previous = run.wait;
            previousLoad = run.imageLoad;
            verdicts.push(run.verdict.apply((v): [ComputeWorkload, WorkloadVerdict] => [workload, v]));
        }
        const smiDuration = pulumi.unsecret(wait.stdout).apply((out) => {
            const s = parseSummary(out, "verification-wait.sh");
            return secondsBetween(s.startedAt, s.finishedAt);
        });
        this.result = pulumi.all([nvidiaSmi, smiDuration, pulumi.all(verdicts)])
            .apply(([smi, duration, others]) => withWorkloads(smi, true, duration, others, order));

        // The gate sees every workload's verdict, after the last one ran.
        this.gate = verificationGate(name, this.result.apply((r) => ({
            passed: r.passed, reasons: r.reasons, job: r.job ?? "", verifiedAt: r.verifiedAt ?? "",
        })), { parent: this, dependsOn: [previous] }, { profile: args.profile });

        this.registerOutputs({ result: this.result });
    }
}
