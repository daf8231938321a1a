import * as crypto from "crypto";

/** Prefix of the namespace our verification Job lives in (ours alone, so destroy removes only our objects). */
export const VERIFICATION_NAMESPACE_PREFIX = "gpu-minikube-verification";

/**
 * The verification namespace for one incarnation of the cluster (identified by its start token).
 * A cluster that was (re)started or recreated since the last run gets a new namespace, hence a new
 * Job: the check runs again on the cluster as it is now, and Pulumi never believes in objects that
 * a `minikube delete` outside it took away.
 */
export function verificationNamespace(clusterStartToken: string): string {
    if (clusterStartToken === "") return VERIFICATION_NAMESPACE_PREFIX;
    const hash = crypto.createHash("sha256").update(clusterStartToken).digest("hex").slice(0, 8);
    return `${VERIFICATION_NAMESPACE_PREFIX}-${hash}`;
}

/** The `--query-gpu` fields the result parser reads (index, name, UUID, driver, memory, bus id). */
const queryFields = (driverField: string): string => `index,name,uuid,${driverField},memory.total,pci.bus_id`;

/**
 * The machine-readable query, as a POSIX `sh` compound command. `driver_version` is deprecated since
 * R610 ("will be removed in CUDA 14.0. Use KMD Version instead") and R610's `kmd_version` is unknown
 * to older drivers (580 answers exit 2, `Field "kmd_version" is not a valid field to query.`), so the
 * field every driver in the field answers today is asked first, and `kmd_version` only when the driver
 * rejects that field as an invalid argument (exit 2); the parser reads either header. Its exit status
 * is nvidia-smi's (the subshell `exit` keeps the shell alive for what follows, e.g. the sharing hold).
 * Checked on an H200 (driver 580.159.04): the same output as the plain driver_version query, and
 * exit 2 with nvidia-smi's own message when neither field is known
 * (test/fixtures/nvidia-smi/SOURCES.md).
 */
export const NVIDIA_SMI_QUERY =
    `{ q=$(nvidia-smi --query-gpu=${queryFields("driver_version")} --format=csv); rc=$?; ` +
    `if [ "$rc" -eq 2 ]; then nvidia-smi --query-gpu=${queryFields("kmd_version")} --format=csv; ` +
    `else printf '%s\\n' "$q"; (exit "$rc"); fi; }`;

/** The container command: the seed's plain `nvidia-smi`, then the machine-readable query. */
export const VERIFICATION_COMMAND = ["sh", "-c", `nvidia-smi && ${NVIDIA_SMI_QUERY}`];

/**
 * Sharing check: after its query each pod keeps its share this long, so that all of them hold one
 * at the same time. Whether they did is decided from the recorded container times, not assumed.
 */
export const SHARING_HOLD_SECONDS = 5;

/** The container command of the sharing check: the same query, then the hold. */
export const SHARING_COMMAND = ["sh", "-c", `nvidia-smi && ${NVIDIA_SMI_QUERY} && sleep ${SHARING_HOLD_SECONDS}`];

/** Inputs of the verification Job manifest. */
export interface VerificationJobSpec {
    /** CUDA image, e.g. `nvidia/cuda:12.5.0-base-ubuntu22.04`. */
    image: string;
    /** `resources.limits["nvidia.com/gpu"]`. */
    gpus: number;
    /** Seconds before Kubernetes fails the Job (`activeDeadlineSeconds`). */
    timeoutSeconds: number;
    /** Free-form re-run token; a new value makes a new Job. */
    runId: string;
    /**
     * What else must make a fresh Job when it changes: the host's GPU facts (driver, UUIDs), the
     * number of failed attempts on this cluster (so the next `up` after a failure starts a new Job)
     * and, with `verification.alwaysRerun`, a value new on every `up`. Default: `""`.
     */
    rerunToken?: string;
    /** The resource each pod asks for (`nvidia.com/gpu.shared` when time-slicing renames). Default: `"nvidia.com/gpu"`. */
    resourceName?: string;
    /** Pods that run at once (`parallelism` = `completions`): one per share in the sharing check. Default: `1`. */
    pods?: number;
}

const isSharingCheck = (spec: VerificationJobSpec) => (spec.pods ?? 1) > 1;

/**
 * The Job's name: a hash of everything that defines the check, so re-verifying (new image,
 * command, GPU count, deadline, runId or rerun token) creates a *new* Job and never reuses a stale
 * Job's log. The deadline is part of it: a Job that hit `activeDeadlineSeconds` stays Failed, so a
 * longer deadline must bring a new Job. Pulumi replaces the Job delete-first (the component sets
 * `deleteBeforeReplace`), so a name that comes back (gpus 1 → 2 → 1) never meets its old Job.
 */
export function verificationJobName(spec: VerificationJobSpec): string {
    const identity: unknown[] = isSharingCheck(spec)
        ? [spec.image, spec.gpus, SHARING_COMMAND, spec.runId, spec.timeoutSeconds, spec.resourceName ?? "nvidia.com/gpu", spec.pods]
        : [spec.image, spec.gpus, VERIFICATION_COMMAND, spec.runId, spec.timeoutSeconds,
            ...(spec.resourceName && spec.resourceName !== "nvidia.com/gpu" ? [spec.resourceName] : [])];
    if (spec.rerunToken) identity.push(spec.rerunToken);
    const hash = crypto.createHash("sha256")
        .update(JSON.stringify(identity))
        .digest("hex")
        .slice(0, 10);
    return `gpu-verify-${hash}`;
}

/**
 * The `batch/v1` Job manifest. Pulumi does not await it (`pulumi.com/skipAwait`): our
 * verification-wait step awaits it instead, because it can fail fast with the pod's reason and
 * events (image pull errors, `Insufficient nvidia.com/gpu`) where a generic await only times out.
 */
export function buildVerificationJob(spec: VerificationJobSpec, namespace: string = VERIFICATION_NAMESPACE_PREFIX) {
    const name = verificationJobName(spec);
    const labels = { "app.kubernetes.io/name": "gpu-verification", "app.kubernetes.io/managed-by": "gpu-minikube" };
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: {
            name,
            namespace,
            labels,
            annotations: { "pulumi.com/skipAwait": "true" },
        },
        spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: spec.timeoutSeconds,
            ...(isSharingCheck(spec) ? { parallelism: spec.pods, completions: spec.pods } : {}),
            template: {
                metadata: { labels },
                spec: {
                    restartPolicy: "Never",
                    containers: [{
                        name: "nvidia-smi",
                        image: spec.image,
                        // The image is pulled on the host and loaded into minikube first.
                        imagePullPolicy: "IfNotPresent",
                        command: isSharingCheck(spec) ? SHARING_COMMAND : VERIFICATION_COMMAND,
                        resources: { limits: { [spec.resourceName ?? "nvidia.com/gpu"]: String(spec.gpus) } },
                    }],
                },
            },
        },
    };
}
