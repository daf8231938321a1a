import * as pulumi from "@pulumi/pulumi";
import { hostScript, parseSummary } from "./hostCommand";

/** Arguments of {@link DevicePlugin}. */
export interface DevicePluginArgs {
    /** minikube profile whose addon is managed. */
    profile: string;
    /** The cluster's kubeconfig (secret); the node check uses it and never the ambient context. */
    kubeconfig: pulumi.Input<string>;
    /** `addon`: minikube's `nvidia-device-plugin` addon. Default: `"addon"`. */
    mode?: "addon";
    /** Deadline in seconds for every node to advertise `nvidia.com/gpu`. Default: `300`. */
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
 * The NVIDIA device plugin, done only when every node *advertises* `nvidia.com/gpu` in
 * `status.allocatable`: minikube's addon runs the plugin with FAIL_ON_INIT_ERROR=false, so a
 * Running plugin pod proves nothing. Destroy disables the addon only if this step enabled it.
 * Pass the previous stage through the component's `dependsOn` option.
 */
export class DevicePlugin extends pulumi.ComponentResource {
    /** The `gpuAllocatable` stack output: node name → allocatable `nvidia.com/gpu`. */
    readonly gpuAllocatable: pulumi.Output<Record<string, number>>;
    /** Whether this step enabled the addon (minikube enables it itself for `--gpus all|nvidia`). */
    readonly enabledByUs: pulumi.Output<boolean>;
    /** Depend on this to run once GPUs are allocatable. */
    readonly ready: pulumi.Resource;

    constructor(name: string, args: DevicePluginArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:DevicePlugin", name, {}, opts);
        const mode = args.mode ?? "addon";
        if (mode !== "addon") {
            throw new pulumi.ResourceError(`devicePlugin.mode ${JSON.stringify(mode)} is not supported; use "addon"`, this);
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
            },
        }, { parent: this, dependsOn: opts?.dependsOn, deletedWith: args.deletedWith });
        this.ready = plugin;

        // stdout is secret only because the kubeconfig is an input; the summary itself is not.
        const summary = pulumi.unsecret(plugin.stdout).apply((out) => parseSummary(out, "device-plugin.sh"));
        this.gpuAllocatable = summary.apply((s) => toGpuAllocatable(s.gpuAllocatable));
        this.enabledByUs = summary.apply((s) => s.enabledByUs === true);

        this.registerOutputs({ gpuAllocatable: this.gpuAllocatable, enabledByUs: this.enabledByUs });
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
