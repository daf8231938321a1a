import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GpuCluster } from "./cluster";
import { hostProbe, parseSummary } from "./hostCommand";
import { gpuNodes, gpuNodesToken, NodeFacts, parseNodeRows } from "./gpuNodes";
import { DevicePluginDaemonSet, parseDevicePluginRows } from "./foreignDevicePlugin";
import { inspectKubeconfig } from "./kubeconfig";

/** Arguments of {@link ExistingCluster}. */
export interface ExistingClusterArgs {
    /** Kubeconfig text (`cluster.kubeconfig`, a secret). Required. */
    kubeconfig: pulumi.Input<string>;
    /** Context to use (`cluster.context`). Default: the kubeconfig's `current-context`. */
    context?: string;
    /** Label → value that narrow which nodes count as GPU nodes (`verification.nodeSelector`). Default: `{}`. */
    nodeSelector?: Record<string, string>;
    /**
     * In `devicePlugin.mode: manifest`, the labels the plugin is placed by: nodes are then observed by
     * these labels (with `nodeSelector`), and every node carrying them is a GPU node, whether it
     * advertises GPUs yet or not (before the plugin runs, none does). Default: none (a GPU node is one
     * that advertises a GPU resource or carries `nvidia.com/gpu.present=true`).
     */
    gpuNodeLabels?: Record<string, string>;
}

/** What the read-only observe probe saw. */
export interface ExistingClusterObservation {
    /** uid of the kube-system namespace: one per cluster incarnation. */
    clusterUid: string;
    /** Every node the selector matched, with its GPU facts. */
    nodes: NodeFacts[];
    /** Our verification runs that left a node failed, stuck or timed out (to be retried). */
    incompleteRuns: string[];
    /** Device-plugin DaemonSets in the cluster (any namespace, ours included), with their pods' nodes. */
    devicePlugins: DevicePluginDaemonSet[];
    /** Why DaemonSets could not be listed (then {@link devicePlugins} is empty), or null. */
    devicePluginsError: string | null;
}

/**
 * A Kubernetes cluster this program does not create: it is reached only through the configured
 * kubeconfig, nothing on this machine is prepared or changed, and nothing in the cluster is
 * touched except the objects later stages create (destroy removes only those). A read-only probe
 * (`kubectl get`) runs on every preview and up, so the incarnation and the GPU nodes are the
 * cluster's as it is now.
 */
export class ExistingCluster extends pulumi.ComponentResource implements GpuCluster {
    readonly kubeconfig: pulumi.Output<string>;
    readonly provider: k8s.Provider;
    readonly incarnation: pulumi.Output<string>;
    readonly ready: pulumi.Resource;
    readonly gpuNodes: pulumi.Output<string[]>;
    /** The probe's view of the cluster. */
    readonly observed: pulumi.Output<ExistingClusterObservation>;
    /**
     * Changes whenever any GPU node's facts change (see `gpuNodesToken`), and after a run that left
     * a node failed, stuck or timed out, so the next `up` verifies again.
     */
    readonly gpuNodesToken: pulumi.Output<string>;
    /**
     * Like {@link gpuNodesToken}, but blind to the GPU counts: for a stage whose other input already
     * carries the counts (the device plugin wait's result), so that the counts the plugin itself
     * brought do not re-run it on the next `up`.
     */
    readonly gpuNodesTokenSansCounts: pulumi.Output<string>;
    /** The API server URL and context in use (not secret). */
    readonly target: pulumi.Output<{ context: string; server: string }>;

    constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:cluster:ExistingCluster", name, {}, opts);
        const inspected = pulumi.output(args.kubeconfig).apply((text) => {
            const r = inspectKubeconfig(text, args.context);
            // Config validation has checked this already; a failure here means the input changed under us.
            if (!r.ok) throw new pulumi.ResourceError(`gpu-minikube:${r.key}: the kubeconfig ${r.problem}`, this);
            return r;
        });
        this.kubeconfig = pulumi.secret(inspected.apply((r) => r.effective));
        this.target = pulumi.unsecret(inspected.apply((r) => ({ context: r.target.context, server: r.target.server })));

        this.provider = new k8s.Provider(`${name}-k8s`, {
            kubeconfig: this.kubeconfig,
            context: args.context,
            // The API server identifies the cluster: a rotated credential updates the provider
            // instead of replacing every object we created; another server replaces them.
            clusterIdentifier: this.target.apply((t) => `existing:${t.server}`),
        }, { parent: this });
        this.ready = this.provider;

        const gpuNodeLabels = args.gpuNodeLabels;
        const selector = Object.entries({ ...(args.nodeSelector ?? {}), ...(gpuNodeLabels ?? {}) })
            .sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(",");
        // Read-only: kubectl get against the cluster; nothing on this machine changes.
        const stdout = hostProbe("existing-cluster-observe.sh", {
            GM_KUBECONFIG: this.kubeconfig,
            GM_NODE_SELECTOR: selector,
        }, { parent: this });
        this.observed = pulumi.unsecret(stdout).apply((out) => {
            const s = parseSummary(out, "existing-cluster-observe.sh");
            return {
                clusterUid: String(s.clusterUid ?? ""),
                nodes: parseNodeRows(typeof s.nodes === "string" ? s.nodes : "")
                    .map((n) => (gpuNodeLabels === undefined ? n : { ...n, isGpuNode: true })),
                incompleteRuns: typeof s.incompleteRuns === "string" ? s.incompleteRuns.split(",").filter((r) => r !== "") : [],
                devicePlugins: parseDevicePluginRows(s.devicePlugins),
                devicePluginsError: typeof s.devicePluginsError === "string" && s.devicePluginsError !== "" ? s.devicePluginsError : null,
            };
        });
        this.incarnation = this.observed.apply((o) => `existing-${o.clusterUid}`);
        this.gpuNodes = this.observed.apply((o) => gpuNodes(o.nodes).map((n) => n.name));
        this.gpuNodesToken = this.observed.apply((o) => gpuNodesToken(o.clusterUid, o.nodes, o.incompleteRuns));
        this.gpuNodesTokenSansCounts = this.observed.apply((o) => gpuNodesToken(o.clusterUid, o.nodes, o.incompleteRuns, { counts: false }));

        this.registerOutputs({ incarnation: this.incarnation, gpuNodes: this.gpuNodes, target: this.target });
    }
}
