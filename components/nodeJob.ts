import { VERIFICATION_COMMAND } from "./verificationJob";

/** Placeholders scripts/verify-gpu-nodes.sh fills in per node (values it has validated first). */
export const NODE_JOB_PLACEHOLDERS = {
    job: "@@GM_JOB@@",
    node: "@@GM_NODE@@",
    hostname: "@@GM_HOSTNAME@@",
    resource: "@@GM_RESOURCE@@",
    run: "@@GM_RUN@@",
} as const;

/** Label on every per-node Job and pod of one run (the script lists them all with one selector). */
export const RUN_LABEL = "gpu-minikube/run";
/** Annotation naming the node a Job is pinned to (node names can be longer than a label value). */
export const NODE_ANNOTATION = "gpu-minikube/node";

/** Inputs of the per-node verification Job. */
export interface NodeJobSpec {
    /** CUDA image. */
    image: string;
    /** GPUs each node's pod requests. */
    gpus: number;
    /** Seconds before Kubernetes fails the Job (`activeDeadlineSeconds`). */
    timeoutSeconds: number;
}

/**
 * The per-node `batch/v1` Job, with {@link NODE_JOB_PLACEHOLDERS} for what only the run knows.
 * The pod is pinned to its node by required node affinity on both the `kubernetes.io/hostname`
 * label and `metadata.name` (a hostname label can be shared or absent; the name cannot), and
 * tolerates the `nvidia.com/gpu` taint GPU node pools commonly carry (GKE, EKS, AKS).
 */
export function buildNodeJobTemplate(spec: NodeJobSpec) {
    const p = NODE_JOB_PLACEHOLDERS;
    const labels = { "app.kubernetes.io/name": "gpu-verification", "app.kubernetes.io/managed-by": "gpu-minikube", [RUN_LABEL]: p.run };
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: p.job, labels, annotations: { [NODE_ANNOTATION]: p.node } },
        spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: spec.timeoutSeconds,
            template: {
                metadata: { labels, annotations: { [NODE_ANNOTATION]: p.node } },
                spec: {
                    restartPolicy: "Never",
                    affinity: {
                        nodeAffinity: {
                            requiredDuringSchedulingIgnoredDuringExecution: {
                                nodeSelectorTerms: [{
                                    matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [p.hostname] }],
                                    matchFields: [{ key: "metadata.name", operator: "In", values: [p.node] }],
                                }],
                            },
                        },
                    },
                    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
                    containers: [{
                        name: "nvidia-smi",
                        image: spec.image,
                        imagePullPolicy: "IfNotPresent",
                        command: VERIFICATION_COMMAND,
                        resources: { limits: { [p.resource]: String(spec.gpus) } },
                    }],
                },
            },
        },
    };
}

/** Fills in the placeholders as the script does (for tests and documentation of the contract). */
export function instantiateNodeJob(templateJson: string, values: Record<keyof typeof NODE_JOB_PLACEHOLDERS, string>): unknown {
    let text = templateJson;
    for (const [k, placeholder] of Object.entries(NODE_JOB_PLACEHOLDERS)) {
        text = text.split(placeholder).join(values[k as keyof typeof NODE_JOB_PLACEHOLDERS]);
    }
    return JSON.parse(text);
}
