import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_DEVICE_PLUGIN_IMAGE, SharingConfig } from "./config";
import {
    buildPluginConfigMap, buildPluginDaemonSet, DEFAULT_SHARING, sharedResourceName, sharesPerGpu,
} from "./devicePluginManifest";
import { hostScript, parseSummary } from "./hostCommand";

/** Arguments of {@link DevicePlugin}. */
export interface DevicePluginArgs {
    /** minikube profile whose addon is managed. */
    profile: string;
    /** The cluster's kubeconfig (secret); the node check uses it and never the ambient context. */
    kubeconfig: pulumi.Input<string>;
    /**
     * `addon`: minikube's `nvidia-device-plugin` addon. `manifest`: NVIDIA's plugin as a ConfigMap and
     * DaemonSet through {@link provider}, after minikube's addon is disabled. Default: `"addon"`.
     */
    mode?: "addon" | "manifest";
    /** The cluster's explicit Kubernetes provider; required in mode `manifest`. Default: none. */
    provider?: k8s.Provider;
    /** Plugin image in mode `manifest`. Default: `"nvcr.io/nvidia/k8s-device-plugin:v0.20.0"`. */
    image?: string;
    /** GPU sharing (mode `manifest` only). Default: `{ strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true }`. */
    sharing?: SharingConfig;
    /**
     * Physical GPUs each node has (the host's, which `--gpus all` hands to every node): ready then
     * means every node advertises exactly shares x this many. `null` (e.g. WSL2, where the plugin
     * reports one GPU whatever the count): at least one. Default: `null`.
     */
    gpusPerNode?: pulumi.Input<number | null>;
    /** Deadline in seconds for every node to advertise its GPUs (and, in mode `manifest`, for the addon's pods to go). Default: `300`. */
    timeoutSeconds?: number;
    /** Changes whenever the cluster was (re)started, so the node is checked again then. Default: none. */
    clusterStartToken?: pulumi.Input<string>;
    /**
     * Changes whenever something else allocatable GPUs depend on changed (the host's driver and
     * GPUs; a value new on every `up` with `verification.alwaysRerun`), so the node is checked again
     * then. Default: none.
     */
    recheckToken?: pulumi.Input<string>;
    /** The resource whose deletion takes the cluster away: the addon dies with it. Default: none. */
    deletedWith?: pulumi.Resource;
}

/**
 * The NVIDIA device plugin, done only when every node *advertises* its GPUs in
 * `status.allocatable` (shares x physical GPUs of {@link DevicePlugin.resourceName}): minikube's addon
 * runs the plugin with FAIL_ON_INIT_ERROR=false, so a Running plugin pod proves nothing. In mode
 * `addon`, destroy disables the addon only if this step enabled it.
 */
export class DevicePlugin extends pulumi.ComponentResource {
    /** The `gpuAllocatable` stack output: node name → allocatable {@link DevicePlugin.resourceName}. */
    readonly gpuAllocatable: pulumi.Output<Record<string, number>>;
    /** Whether this step enabled the addon (minikube enables it itself for `--gpus all|nvidia`). */
    readonly enabledByUs: pulumi.Output<boolean>;
    /** The resource nodes advertise and pods request: `nvidia.com/gpu`, or `nvidia.com/gpu.shared` when renamed. */
    readonly resourceName: string;
    /** Shares each physical GPU is advertised as (time-slicing replicas; 1 without sharing). */
    readonly sharesPerGpu: number;
    /** Depend on this to run once GPUs are allocatable. */
    readonly ready: pulumi.Resource;

    constructor(name: string, args: DevicePluginArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:DevicePlugin", name, {}, opts);
        const mode = args.mode ?? "addon";
        const sharing = args.sharing ?? DEFAULT_SHARING;
        if (mode === "addon" && sharing.strategy !== "none") {
            throw new pulumi.ResourceError(`devicePlugin.sharing.strategy ${JSON.stringify(sharing.strategy)} needs devicePlugin.mode "manifest"`, this);
        }
        this.resourceName = sharedResourceName(sharing);
        this.sharesPerGpu = sharesPerGpu(sharing);
        const expectedPerNode = pulumi.output(args.gpusPerNode ?? null)
            .apply((n) => (n === null || n < 1 ? "" : String(n * this.sharesPerGpu)));

        if (mode === "manifest") {
            const wait = this.manifestMode(name, args, sharing, expectedPerNode, opts?.dependsOn);
            this.ready = wait;
            const summary = pulumi.unsecret(wait.stdout).apply((out) => parseSummary(out, "device-plugin.sh"));
            this.gpuAllocatable = summary.apply((s) => toGpuAllocatable(s.gpuAllocatable));
            this.enabledByUs = pulumi.output(false);
            this.registerOutputs({ gpuAllocatable: this.gpuAllocatable, enabledByUs: this.enabledByUs });
            return;
        }

        const plugin = hostScript(`${name}-addon`, {
            create: "device-plugin.sh",
            delete: "device-plugin-delete.sh",
            environment: {
                GM_PROFILE: args.profile,
                GM_KUBECONFIG: pulumi.secret(args.kubeconfig),
                GM_TIMEOUT_SECONDS: String(args.timeoutSeconds ?? 300),
                GM_POLL_SECONDS: "2",
                GM_CLUSTER_START_TOKEN: args.clusterStartToken ?? "",
                GM_RECHECK_TOKEN: args.recheckToken ?? "",
                GM_EXPECTED_PER_NODE: expectedPerNode,
            },
        }, { parent: this, dependsOn: opts?.dependsOn, deletedWith: args.deletedWith });
        this.ready = plugin;

        // stdout is secret only because the kubeconfig is an input; the summary itself is not.
        const summary = pulumi.unsecret(plugin.stdout).apply((out) => parseSummary(out, "device-plugin.sh"));
        this.gpuAllocatable = summary.apply((s) => toGpuAllocatable(s.gpuAllocatable));
        this.enabledByUs = summary.apply((s) => s.enabledByUs === true);

        this.registerOutputs({ gpuAllocatable: this.gpuAllocatable, enabledByUs: this.enabledByUs });
    }

    /** Mode `manifest`: addon off → ConfigMap + DaemonSet → wait until every node advertises its shares. */
    private manifestMode(name: string, args: DevicePluginArgs, sharing: SharingConfig, expectedPerNode: pulumi.Output<string>,
        dependsOn: pulumi.ComponentResourceOptions["dependsOn"]) {
        if (args.provider === undefined) {
            throw new pulumi.ResourceError("devicePlugin.mode \"manifest\" needs the cluster's Kubernetes provider", this);
        }
        const kubeconfig = pulumi.secret(args.kubeconfig);
        const timeout = String(args.timeoutSeconds ?? 300);
        const startToken = args.clusterStartToken ?? "";
        // Re-runs when the cluster was (re)started: a recreated `--gpus all` cluster has the addon on again.
        const addonOff = hostScript(`${name}-addon-disable`, {
            create: "device-plugin-addon-disable.sh",
            environment: {
                GM_PROFILE: args.profile, GM_KUBECONFIG: kubeconfig, GM_TIMEOUT_SECONDS: timeout, GM_POLL_SECONDS: "2",
                GM_CLUSTER_START_TOKEN: startToken,
            },
        }, { parent: this, dependsOn, deletedWith: args.deletedWith });

        const spec = { image: args.image ?? DEFAULT_DEVICE_PLUGIN_IMAGE, sharing };
        const configMap = buildPluginConfigMap(spec);
        const daemonSet = buildPluginDaemonSet(spec);
        // The start token as an annotation: after a cluster was recreated outside Pulumi, the changed
        // value makes Pulumi update the objects, and server-side apply creates them again.
        const incarnation = (annotations: Record<string, string> = {}) =>
            pulumi.output(startToken).apply((t) => ({ ...annotations, "gpu-minikube/cluster-start-token": t }));
        const cm = new k8s.core.v1.ConfigMap(`${name}-config`, {
            metadata: { ...configMap.metadata, annotations: incarnation() },
            data: configMap.data,
        }, { parent: this, provider: args.provider, dependsOn: [addonOff], deletedWith: args.deletedWith });
        const ds = new k8s.apps.v1.DaemonSet(`${name}-daemonset`, {
            metadata: { ...daemonSet.metadata, annotations: incarnation(daemonSet.metadata.annotations) },
            spec: daemonSet.spec,
        }, { parent: this, provider: args.provider, dependsOn: [addonOff, cm], deletedWith: args.deletedWith });

        return hostScript(`${name}-wait`, {
            create: "device-plugin.sh",
            environment: {
                GM_PROFILE: args.profile, GM_KUBECONFIG: kubeconfig, GM_TIMEOUT_SECONDS: timeout, GM_POLL_SECONDS: "2",
                GM_CLUSTER_START_TOKEN: startToken,
                GM_MODE: "manifest",
                GM_RESOURCE_NAME: this.resourceName,
                GM_EXPECTED_PER_NODE: expectedPerNode,
                // A new config (a new ConfigMap name) or image rolls the plugin: wait again then.
                GM_PLUGIN_CONFIG: cm.metadata.name,
                GM_PLUGIN_IMAGE: spec.image,
                GM_RECHECK_TOKEN: args.recheckToken ?? "",
            },
        }, { parent: this, dependsOn: [ds, cm], deletedWith: args.deletedWith });
    }
}

/** Keeps only node → non-negative integer entries of the script's `gpuAllocatable` map. */
export function toGpuAllocatable(raw: unknown): Record<string, number> {
    const result: Record<string, number> = {};
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return result;
    for (const [node, count] of Object.entries(raw)) {
        const n = typeof count === "string" ? Number(count) : count;
        if (typeof n === "number" && Number.isInteger(n) && n >= 0) result[node] = n;
    }
    return result;
}
