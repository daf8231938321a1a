import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { GpuCluster } from "./cluster";
import { DEFAULT_DEVICE_PLUGIN_IMAGE, SharingConfig } from "./config";
import {
    buildPluginConfigMap, buildPluginDaemonSet, DEFAULT_SHARING, MANAGED_PLUGIN_NAME, sharedResourceName, sharesPerGpu,
} from "./devicePluginManifest";
import { DevicePluginDaemonSet, foreignPluginConflicts, foreignPluginMessage } from "./foreignDevicePlugin";
import { hostScript, parseSummary } from "./hostCommand";
import { toGpuAllocatable } from "./devicePlugin";

/**
 * The label that places the plugin when `verification.nodeSelector` is empty: GPU Feature Discovery
 * and the GPU Operator set it on GPU nodes, and NVIDIA's own Helm chart accepts it to force a
 * deployment (deployments/helm/nvidia-device-plugin/values.yaml, `affinity`).
 */
export const DEFAULT_GPU_NODE_LABELS: Readonly<Record<string, string>> = { "nvidia.com/gpu.present": "true" };

/**
 * The labels the plugin is placed by, and that define the GPU nodes in `devicePlugin.mode: manifest`
 * of an existing cluster: `verification.nodeSelector` when set, else {@link DEFAULT_GPU_NODE_LABELS}.
 * One definition for both, so the plugin runs exactly on the nodes that are waited for and verified.
 */
export function pluginPlacement(nodeSelector: Record<string, string>): Record<string, string> {
    return Object.keys(nodeSelector).length > 0 ? { ...nodeSelector } : { ...DEFAULT_GPU_NODE_LABELS };
}

/** "key=value,…" (a kubectl equality selector) of LABELS, sorted by key. */
export function selectorString(labels: Record<string, string>): string {
    return Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(",");
}

/** Arguments of {@link ExistingDevicePlugin}. */
export interface ExistingDevicePluginArgs {
    /** The cluster: its provider (for the objects) and kubeconfig (for the wait). */
    cluster: GpuCluster;
    /** Labels that place the plugin on the GPU nodes (see {@link pluginPlacement}). Required, not empty. */
    placement: Record<string, string>;
    /** Plugin image. Default: `"nvcr.io/nvidia/k8s-device-plugin:v0.20.0"`. */
    image?: string;
    /** GPU sharing. Default: `{ strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true }`. */
    sharing?: SharingConfig;
    /** Deadline in seconds for the rollout and every placed node to advertise its GPUs. Default: `300`. */
    timeoutSeconds?: number;
    /** Changes whenever the GPU nodes' facts change, so the wait runs again then. Default: none. */
    nodesToken?: pulumi.Input<string>;
    /**
     * The device plugins the cluster already runs and the nodes the placement selects now (the observe
     * probe's view). Another plugin with a pod on one of those nodes fails this component before any
     * object is applied; plugins that could not be listed give a warning. Default: none known.
     */
    otherPlugins?: pulumi.Input<OtherDevicePlugins>;
}

/** What {@link ExistingDevicePluginArgs.otherPlugins} says. */
export interface OtherDevicePlugins {
    /** Device-plugin DaemonSets in the cluster (ours may be among them: it is left out by name). */
    plugins: DevicePluginDaemonSet[];
    /** Why they could not be listed, or null. */
    listError: string | null;
    /** The nodes the plugin's placement selects. */
    placedNodes: string[];
}

/**
 * NVIDIA's device plugin in a cluster this program does not create (`cluster.mode: existing`,
 * `devicePlugin.mode: manifest`): the same ConfigMap and DaemonSet as manifest mode on minikube
 * (components/devicePluginManifest.ts), applied through the cluster's provider, with a node selector
 * so its pods land only on the GPU nodes, and no minikube step. Done when the DaemonSet has rolled
 * out and every placed node advertises its GPUs, or at the deadline with the nodes still short named
 * in {@link ExistingDevicePlugin.shortNodes} (scripts/existing-device-plugin-wait.sh): a short node is
 * that node's problem (its verdict fails), not the whole step's. Destroy deletes the ConfigMap and
 * DaemonSet (and so the plugin pods) and nothing else.
 */
export class ExistingDevicePlugin extends pulumi.ComponentResource {
    /** Node name → allocatable {@link ExistingDevicePlugin.resourceName} of every placed node, once ready. */
    readonly gpuAllocatable: pulumi.Output<Record<string, number>>;
    /**
     * Node name → why it did not advertise its GPUs by the deadline (not Ready, its plugin pod's state,
     * advertised vs expected); empty when every placed node did. Give it to the verification as
     * `nodeProblems`, so each of these nodes gets a failing verdict while the others are verified.
     */
    readonly shortNodes: pulumi.Output<Record<string, string>>;
    /** The resource nodes advertise and pods request. */
    readonly resourceName: string;
    /** Shares each physical GPU is advertised as (time-slicing replicas; 1 without sharing). */
    readonly sharesPerGpu: number;
    /** The DaemonSet (with its placement). */
    readonly daemonSet: k8s.apps.v1.DaemonSet;
    /** Depend on this to run once every placed node advertises its GPUs. */
    readonly ready: pulumi.Resource;

    constructor(name: string, args: ExistingDevicePluginArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:ExistingDevicePlugin", name, {}, opts);
        if (Object.keys(args.placement).length === 0) {
            throw new pulumi.ResourceError("the device plugin needs node labels to be placed by (verification.nodeSelector or nvidia.com/gpu.present)", this);
        }
        const sharing = args.sharing ?? DEFAULT_SHARING;
        this.resourceName = sharedResourceName(sharing);
        this.sharesPerGpu = sharesPerGpu(sharing);
        const spec = { image: args.image ?? DEFAULT_DEVICE_PLUGIN_IMAGE, sharing };
        const configMap = buildPluginConfigMap(spec);
        const daemonSet = placeOnNodes(buildPluginDaemonSet(spec), args.placement);

        // Checked before anything is applied: the objects' annotations wait for it, so a conflict
        // fails their registration and nothing reaches the cluster.
        const own = `${daemonSet.metadata.namespace}/${daemonSet.metadata.name}`;
        const clear = pulumi.output(args.otherPlugins ?? { plugins: [], listError: null, placedNodes: [] }).apply((o) => {
            if (o.listError !== null) {
                void pulumi.log.warn("could not look for a device plugin already running on the GPU nodes (listing DaemonSets: " +
                    `${o.listError}); if the cluster runs one, use devicePlugin.mode none instead of manifest`, this);
            }
            const check = foreignPluginConflicts(o.plugins, own, o.placedNodes);
            if (check.unknown.length > 0) {
                void pulumi.log.warn(`device plugin DaemonSet(s) ${check.unknown.join(", ")}: could not list their pods, so ` +
                    "whether they run on the GPU nodes is unknown; two plugins on one node make its GPU count unreliable", this);
            }
            if (check.conflicts.length > 0) throw new pulumi.ResourceError(foreignPluginMessage(check.conflicts), this);
            return true;
        });
        // The incarnation as an annotation: a cluster rebuilt under the same API server gets the
        // objects applied again (server-side apply creates what is missing).
        const annotations = (extra: Record<string, string> = {}) =>
            pulumi.all([args.cluster.incarnation, clear]).apply(([t]) => ({ ...extra, "gpu-minikube/cluster-incarnation": t }));
        const cm = new k8s.core.v1.ConfigMap(`${name}-config`, {
            metadata: { ...configMap.metadata, annotations: annotations() },
            data: configMap.data,
        }, { parent: this, provider: args.cluster.provider, dependsOn: opts?.dependsOn });
        this.daemonSet = new k8s.apps.v1.DaemonSet(`${name}-daemonset`, {
            metadata: { ...daemonSet.metadata, annotations: annotations(daemonSet.metadata.annotations) },
            spec: daemonSet.spec,
        }, { parent: this, provider: args.cluster.provider, dependsOn: [cm] });

        const wait = hostScript(`${name}-wait`, {
            create: "existing-device-plugin-wait.sh",
            environment: {
                GM_KUBECONFIG: pulumi.secret(args.cluster.kubeconfig),
                GM_NODE_SELECTOR: selectorString(args.placement),
                GM_DAEMONSET: MANAGED_PLUGIN_NAME,
                GM_RESOURCE_NAME: this.resourceName,
                GM_SHARES_PER_GPU: String(this.sharesPerGpu),
                GM_TIMEOUT_SECONDS: String(args.timeoutSeconds ?? 300),
                GM_POLL_SECONDS: "2",
                // Not read by the script: a new config (ConfigMap name), image or node facts wait again.
                GM_PLUGIN_CONFIG: cm.metadata.name,
                GM_PLUGIN_IMAGE: spec.image,
                GM_NODES_TOKEN: args.nodesToken ?? "",
            },
        }, { parent: this, dependsOn: [this.daemonSet, cm] });
        this.ready = wait;
        const summary = pulumi.unsecret(wait.stdout).apply((out) => parseSummary(out, "existing-device-plugin-wait.sh"));
        this.gpuAllocatable = summary.apply((s) => toGpuAllocatable(s.gpuAllocatable));
        this.shortNodes = summary.apply((s) => toShortNodes(s.short));
        this.registerOutputs({ gpuAllocatable: this.gpuAllocatable, shortNodes: this.shortNodes });
    }
}

/** Reads the wait's `short` map (node → reason); entries that are not strings are dropped. */
export function toShortNodes(raw: unknown): Record<string, string> {
    const result: Record<string, string> = {};
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return result;
    for (const [node, why] of Object.entries(raw)) {
        if (typeof why === "string" && why !== "") result[node] = why;
    }
    return result;
}

/** DAEMONSET with a `nodeSelector` of LABELS in its pod template: its pods land only on those nodes. */
export function placeOnNodes<T extends ReturnType<typeof buildPluginDaemonSet>>(daemonSet: T, labels: Record<string, string>): T {
    const template = daemonSet.spec.template;
    return {
        ...daemonSet,
        spec: { ...daemonSet.spec, template: { ...template, spec: { ...template.spec, nodeSelector: { ...labels } } } },
    };
}
