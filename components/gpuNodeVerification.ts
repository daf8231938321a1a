import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GpuCluster } from "./cluster";
import { withDependsOn } from "./dependsOn";
import { parseNodeRows } from "./gpuNodes";
import { hostScript, parseSummary } from "./hostCommand";
import { verificationGate } from "./verificationGate";
import { buildNodeJobTemplate } from "./nodeJob";
import { ClusterVerificationResult, summarizeNodes, toNodeRuns } from "./nodeVerdict";
import { verificationNamespace } from "./verificationJob";

/** Arguments of {@link GpuNodeVerification}. */
export interface GpuNodeVerificationArgs {
    /** The cluster: its kubeconfig, provider, incarnation and GPU nodes. */
    cluster: GpuCluster;
    /** Changes whenever a GPU node's facts change, so the nodes are verified again then. Default: none. */
    nodesToken?: pulumi.Input<string>;
    /** CUDA image. Default: `"nvidia/cuda:12.5.0-base-ubuntu22.04"`. */
    image?: string;
    /** GPUs each node's pod requests and must see. Default: `1`. */
    gpus?: number;
    /** Deadline in seconds for the whole run (and each Job's `activeDeadlineSeconds`). Default: `600`. */
    timeoutSeconds?: number;
    /** Change to run the check again with nothing else changed. Default: `""`. */
    runId?: string;
    /** Jobs run at once. Default: `16`. */
    parallelism?: number;
    /** Label → value narrowing the GPU nodes (re-applied when the run starts). Default: `{}`. */
    nodeSelector?: Record<string, string>;
    /** A fresh run on every `up`, even when nothing changed. Default: `false`. */
    alwaysRerun?: boolean;
    /**
     * Node name → a problem an earlier stage found on it (the device plugin wait's short nodes in
     * `devicePlugin.mode: manifest`): each fails that node's verdict with it as a reason, while the
     * other nodes are verified. Default: `{}`.
     */
    nodeProblems?: pulumi.Input<Record<string, string>>;
}

/**
 * Verifies every GPU node of a cluster: one `nvidia-smi` Job per node, pinned to it, run with
 * bounded parallelism by scripts/verify-gpu-nodes.sh in a namespace of ours (one per cluster
 * incarnation; destroy deletes it and with it every Job and pod we made). Each node gets its own
 * verdict, compared against what the node advertises; `passed` needs every GPU node to pass.
 * As in minikube mode, a failed verification is recorded (`passed: false` with reasons) and a gate
 * step then fails `pulumi up` with the same reasons.
 *
 * Pass the previous stage through the component's `dependsOn` option: its children wait for it.
 */
export class GpuNodeVerification extends pulumi.ComponentResource {
    /** The `gpuVerification` stack output. */
    readonly result: pulumi.Output<ClusterVerificationResult>;
    /** The namespace the Jobs run in. */
    readonly namespace: k8s.core.v1.Namespace;
    /** The step that fails `pulumi up` when a node did not pass. */
    readonly gate: pulumi.Resource;

    constructor(name: string, args: GpuNodeVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:GpuNodeVerification", name, {}, opts);
        const spec = {
            image: args.image ?? "nvidia/cuda:12.5.0-base-ubuntu22.04",
            gpus: args.gpus ?? 1,
            timeoutSeconds: args.timeoutSeconds ?? 600,
        };
        const nodeSelector = args.nodeSelector ?? {};
        const template = buildNodeJobTemplate(spec);

        this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: {
                name: args.cluster.incarnation.apply(verificationNamespace),
                labels: { "app.kubernetes.io/name": "gpu-verification", "app.kubernetes.io/managed-by": "gpu-minikube" },
            },
        }, { parent: this, provider: args.cluster.provider, dependsOn: withDependsOn(opts?.dependsOn, args.cluster.ready) });
        const namespaceName = this.namespace.metadata.name;

        const run = hostScript(`${name}-run`, {
            create: "verify-gpu-nodes.sh",
            environment: {
                GM_KUBECONFIG: pulumi.secret(args.cluster.kubeconfig),
                GM_NAMESPACE: this.namespace.metadata.name,
                GM_NODES: args.cluster.gpuNodes.apply((nodes) => nodes.join(" ")),
                GM_NODE_SELECTOR: Object.entries(nodeSelector).map(([k, v]) => `${k}=${v}`).join(","),
                GM_JOB_TEMPLATE: JSON.stringify(template),
                GM_GPUS: String(spec.gpus),
                GM_PARALLELISM: String(args.parallelism ?? 16),
                GM_TIMEOUT_SECONDS: String(spec.timeoutSeconds),
                // Not read by the script: a change of either re-runs the step.
                GM_RUN_ID: args.runId ?? "",
                GM_NODES_TOKEN: args.nodesToken ?? "",
                // New on every run only when asked to (both the preview and the update phase get their own).
                GM_RERUN_NONCE: args.alwaysRerun ? new Date().toISOString() : "",
            },
        }, { parent: this, dependsOn: withDependsOn(opts?.dependsOn, this.namespace) });

        const summary = pulumi.unsecret(run.stdout).apply((out) => parseSummary(out, "verify-gpu-nodes.sh"));
        this.result = pulumi.all([summary, namespaceName, args.nodeProblems ?? {}]).apply(([s, ns, nodeProblems]) => {
            return summarizeNodes(parseNodeRows(typeof s.facts === "string" ? s.facts : ""), toNodeRuns(s.nodes), {
                minGpus: spec.gpus,
                image: spec.image,
                // As in minikube mode: the incarnation's hash, which also names the namespace.
                clusterIncarnation: ns.slice(ns.lastIndexOf("-") + 1),
                nodeSelector,
                now: typeof s.finishedAt === "string" ? s.finishedAt : "",
                nodeProblems,
            });
        });

        this.gate = verificationGate(name, pulumi.all([this.result, namespaceName]).apply(([r, ns]) => ({
            passed: r.passed, reasons: r.reasons, job: `${ns}/* (one per GPU node)`, verifiedAt: r.verifiedAt ?? "",
        })), { parent: this, dependsOn: [run] }, {
            run: {
                namespace: namespaceName,
                id: summary.apply((s) => String(s.run ?? "")),
                kubeconfig: args.cluster.kubeconfig,
            },
        });

        this.registerOutputs({ result: this.result });
    }
}
