import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hostScript, parseSummary } from "./hostCommand";
import { buildWorkloadJob, workloadJobName } from "./workloadJob";
import { ComputeWorkload, workloadSlug } from "./workloads";
import { evaluateWorkload, WorkloadVerdict } from "./workloadVerdict";

/** Arguments of {@link runWorkload}. */
export interface WorkloadRunArgs {
    /** Which sample runs. */
    workload: ComputeWorkload;
    /** Its image (`verification.images.<workload>`). */
    image: string;
    /**
     * The pulled image's id on the host: the image load waits for the pull, runs again when the id changes, and loads
     * the host's image when the node lists the name at another id (a moved tag). Default: none (a name the node lists
     * is not loaded again).
     */
    hostImageId?: pulumi.Input<string>;
    /** minikube profile the image is loaded into. */
    profile: string;
    /** The cluster's kubeconfig (secret), for the wait step. */
    kubeconfig: pulumi.Input<string>;
    /** The cluster's explicit Kubernetes provider. */
    provider: k8s.Provider;
    /** The verification namespace (the nvidia-smi Job's), created by the caller. */
    namespace: pulumi.Input<string>;
    /** Changes when the cluster was (re)started or recreated; the image is loaded again then. */
    clusterStartToken: pulumi.Input<string>;
    /** The Job's `activeDeadlineSeconds` and the wait step's deadline (`verification.timeoutSeconds`). */
    timeoutSeconds: number;
    /** `verification.runId`. */
    runId: string;
    /** The GPU resource to ask for (see `WorkloadJobSpec.resourceName`). Default: `nvidia.com/gpu`. */
    resourceName?: string;
    /** The nvidia-smi Job's rerun token (see `WorkloadJobSpec.rerunToken`). Default: `""`. */
    rerunToken?: pulumi.Input<string>;
    /**
     * What the image load waits for: the previous image load (and through it the cluster), so loads run one at a
     * time but off the Jobs' critical path.
     */
    loadAfter: pulumi.Input<pulumi.Resource>[];
    /** What the Job waits for besides its image: the previous workload's wait step, so Jobs run one by one. */
    runAfter: pulumi.Input<pulumi.Resource>[];
    /** The resource whose deletion takes the cluster away; the Job dies with it. Default: none. */
    deletedWith?: pulumi.Resource;
}

/** The resources of one workload run and its verdict. */
export interface WorkloadRun {
    /** The Job. */
    job: k8s.batch.v1.Job;
    /** The step that waits for the Job and reads its log; the next workload's Job depends on it. */
    wait: pulumi.Resource;
    /** The image load; the next workload's image load depends on it. */
    imageLoad: pulumi.Resource;
    /** The workload's entry of `gpuVerification.workloads`. */
    verdict: pulumi.Output<WorkloadVerdict>;
}

/** The config key of a compute workload's image, named in the wait step's fixes (e.g. a pull that fails). */
export function workloadImageKey(workload: ComputeWorkload): string {
    return `verification.images.${workload}`;
}

/** Seconds between two RFC 3339 times, or null when either is missing or unreadable. */
export function secondsBetween(start: unknown, end: unknown): number | null {
    if (typeof start !== "string" || typeof end !== "string") return null;
    const s = Date.parse(start);
    const e = Date.parse(end);
    return Number.isFinite(s) && Number.isFinite(e) && e >= s ? (e - s) / 1000 : null;
}

/** A compute workload's verdict from the wait step's summary line (`verification-wait.sh`). */
export function workloadVerdictFromSummary(workload: ComputeWorkload, image: string, summary: Record<string, unknown>): WorkloadVerdict {
    return evaluateWorkload(workload, {
        jobSucceeded: summary.succeeded === true,
        log: typeof summary.log === "string" ? summary.log : "",
        image,
        durationSeconds: secondsBetween(summary.startedAt, summary.finishedAt),
        failure: typeof summary.failure === "string" ? summary.failure : null,
    });
}

/**
 * One compute workload (vectorAdd or nbody): load its image into minikube, run its Job in the verification
 * namespace, wait for it with the same step as the nvidia-smi Job and turn its log into a verdict. Its children
 * belong to `parent` (the GpuVerification component).
 */
export function runWorkload(name: string, args: WorkloadRunArgs, parent: pulumi.Resource): WorkloadRun {
    const manifest = buildWorkloadJob({
        workload: args.workload, image: args.image, timeoutSeconds: args.timeoutSeconds, runId: args.runId, resourceName: args.resourceName,
    });
    const slug = workloadSlug(args.workload);

    const imageLoad = hostScript(`${name}-${slug}-image-load`, {
        create: "minikube-image-load.sh",
        environment: {
            GM_PROFILE: args.profile,
            GM_IMAGE: args.image,
            GM_CLUSTER_START_TOKEN: args.clusterStartToken,
            GM_IMAGE_ID: args.hostImageId ?? "",
        },
    }, { parent, dependsOn: args.loadAfter });

    const jobName = pulumi.output(args.rerunToken ?? "").apply((rerunToken) => workloadJobName({
        workload: args.workload, image: args.image, timeoutSeconds: args.timeoutSeconds, runId: args.runId, rerunToken,
        resourceName: args.resourceName,
    }));
    const job = new k8s.batch.v1.Job(`${name}-${slug}-job`, {
        metadata: { ...manifest.metadata, name: jobName, namespace: args.namespace },
        spec: manifest.spec,
    }, {
        parent,
        provider: args.provider,
        dependsOn: [imageLoad, ...args.runAfter],
        customTimeouts: { create: `${args.timeoutSeconds}s` },
        deleteBeforeReplace: true,
        deletedWith: args.deletedWith,
    });

    const wait = hostScript(`${name}-${slug}-wait`, {
        create: "verification-wait.sh",
        environment: {
            GM_KUBECONFIG: pulumi.secret(args.kubeconfig),
            GM_PROFILE: args.profile,
            GM_NAMESPACE: job.metadata.namespace,
            GM_JOB_NAME: job.metadata.name,
            GM_JOB_UID: job.metadata.uid,
            GM_TIMEOUT_SECONDS: String(args.timeoutSeconds),
            GM_IMAGE_KEY: workloadImageKey(args.workload),
        },
    }, { parent, dependsOn: [job] });

    const verdict = pulumi.unsecret(wait.stdout).apply((out) => {
        const v = workloadVerdictFromSummary(args.workload, args.image, parseSummary(out, "verification-wait.sh"));
        // Shown by `pulumi up`, not only kept in the output: a figure far under the published one for
        // the same GPU passes, but the user should see it.
        for (const w of v.metrics?.warnings ?? []) void pulumi.log.warn(`${args.workload}: ${w}`, parent);
        return v;
    });
    return { job, wait, imageLoad, verdict };
}
