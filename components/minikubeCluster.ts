import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hostProbe, hostScript, parseSummary } from "./hostCommand";

/** Arguments of {@link MinikubeCluster}. */
export interface MinikubeClusterArgs {
    /** minikube profile (also the Docker container and kube context name). Default: `"gpu-minikube"`. */
    profile?: string;
    /** minikube driver; only `docker` supports GPUs. Default: `"docker"`. */
    driver?: string;
    /** `--gpus` value: `all`, `nvidia` or `nvidia.com`. Default: `"all"`. */
    gpus?: pulumi.Input<string>;
    /** `--cpus`. Default: `4`. */
    cpus?: number;
    /** `--memory`, e.g. `8g`, `8192`, `max`. Default: `"8g"`. */
    memory?: string;
    /** `--kubernetes-version`: `stable`, `latest` or `v1.x.y`. Default: `"stable"`. */
    kubernetesVersion?: string;
    /** `--addons`. Default: `["ingress"]`. */
    addons?: string[];
    /** Deadline in seconds for `minikube start`. Default: `600`. */
    startTimeoutSeconds?: number;
    /**
     * When the existing profile cannot take the configured settings in place (cpus, memory, driver,
     * Kubernetes version, created without GPUs), delete and recreate it instead of failing with
     * the command to run. Default: `false` (never delete a cluster without being told to).
     */
    recreateIfIncompatible?: boolean;
    /**
     * Pass `--force` to `minikube start` (config `minikube.force`): lets minikube's docker driver run as
     * root, which it refuses otherwise (DRV_AS_ROOT), and skips its other validations. Default: `false`.
     */
    force?: boolean;
    /** Steps this one must wait for (e.g. the previous stage's `ready`). Default: none. */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The start script's summary (scripts/minikube-start.sh), without the kubeconfig. */
export interface ClusterStartSummary {
    profile: string;
    action: string;
    minikubeVersion: string | null;
    kubernetesVersion: string | null;
    apiServer: string | null;
}

/**
 * A minikube cluster with GPU support (`minikube start --gpus … --driver=docker`). Every `up`
 * observes the profile first (read-only), so a cluster stopped since the last run — e.g. by a
 * Docker restart — is started again, while a running one is left alone. Destroy runs
 * `minikube delete -p <profile>` and nothing broader.
 */
export class MinikubeCluster extends pulumi.ComponentResource {
    /** The profile name. */
    readonly profile: string;
    /** Self-contained kubeconfig of the profile (certificates embedded); secret. */
    readonly kubeconfig: pulumi.Output<string>;
    /** Explicit Kubernetes provider for this cluster; nothing falls back to ~/.kube/config. */
    readonly provider: k8s.Provider;
    /** What the start step did and saw. */
    readonly start: pulumi.Output<ClusterStartSummary>;
    /** Changes whenever the cluster was (re)started; later steps re-check the node when it does. */
    readonly startToken: pulumi.Output<string>;
    /** Depend on this to run after the cluster is up. */
    readonly ready: pulumi.Resource;

    constructor(name: string, args: MinikubeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:cluster:MinikubeCluster", name, {}, opts);
        this.profile = args.profile ?? "gpu-minikube";

        // Runs on every preview and up; read-only. Its token only changes when the cluster is
        // not running, which makes the start step below re-run exactly then.
        const observed = hostProbe("minikube-observe.sh", { GM_PROFILE: this.profile }, { parent: this });
        this.startToken = observed.apply((out) => String(parseSummary(out, "minikube-observe.sh").token ?? ""));

        const start = hostScript(`${name}-start`, {
            create: "minikube-start.sh",
            delete: "minikube-delete.sh",
            secretStdout: true,
            environment: {
                GM_PROFILE: this.profile,
                GM_DRIVER: args.driver ?? "docker",
                GM_GPUS: args.gpus ?? "all",
                GM_CPUS: String(args.cpus ?? 4),
                GM_MEMORY: args.memory ?? "8g",
                GM_KUBERNETES_VERSION: args.kubernetesVersion ?? "stable",
                GM_ADDONS: (args.addons ?? ["ingress"]).join(","),
                GM_START_TIMEOUT_SECONDS: String(args.startTimeoutSeconds ?? 600),
                GM_RECREATE_IF_INCOMPATIBLE: String(args.recreateIfIncompatible ?? false),
                GM_MINIKUBE_FORCE: String(args.force ?? false),
                GM_START_TOKEN: this.startToken,
            },
            // A new profile name is a different cluster: delete the old one first, never leave it
            // orphaned and never run two (minikube profiles are host singletons).
            triggers: [this.profile],
        }, { parent: this, deleteBeforeReplace: true, dependsOn: args.dependsOn });
        this.ready = start;

        const summary = start.stdout.apply((out) => parseSummary(out, "minikube-start.sh"));
        this.kubeconfig = pulumi.secret(summary.apply((s) => {
            if (typeof s.kubeconfig !== "string" || s.kubeconfig.length === 0) {
                throw new pulumi.ResourceError("scripts/minikube-start.sh returned no kubeconfig", this);
            }
            return s.kubeconfig;
        }));
        this.start = pulumi.unsecret(summary).apply((s) => ({
            profile: String(s.profile ?? this.profile),
            action: String(s.action ?? "unknown"),
            minikubeVersion: typeof s.minikubeVersion === "string" ? s.minikubeVersion : null,
            kubernetesVersion: typeof s.kubernetesVersion === "string" ? s.kubernetesVersion : null,
            apiServer: typeof s.apiServer === "string" ? s.apiServer : null,
        }));

        this.provider = new k8s.Provider(`${name}-k8s`, {
            kubeconfig: this.kubeconfig,
            // The profile identifies the cluster: a new API server port after a restart updates
            // the provider instead of replacing every Kubernetes resource.
            clusterIdentifier: this.profile,
            // `minikube delete` outside Pulumi must not wedge `pulumi destroy`.
            deleteUnreachable: true,
        }, { parent: this, dependsOn: [start] });

        this.registerOutputs({ kubeconfig: this.kubeconfig, start: this.start, startToken: this.startToken });
    }
}
