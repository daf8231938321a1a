// Composition root: config → cluster (minikube on this host, or an existing one) → device plugin →
// verification → stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, GpuMinikubeConfig, loadConfig } from "./components/config";
import { DevicePlugin } from "./components/devicePlugin";
import { ExistingCluster } from "./components/existingCluster";
import { ExistingDevicePlugin, pluginPlacement } from "./components/existingDevicePlugin";
import { GpuNodeVerification } from "./components/gpuNodeVerification";
import { GpuVerification } from "./components/gpuVerification";
import { readHostFacts } from "./components/hostFacts";
import { HostPrep } from "./components/hostPrep";
import { MinikubeCluster } from "./components/minikubeCluster";
import { WorkloadImages } from "./components/workloadImages";
import { ClusterVerificationResult, NodeVerdict } from "./components/nodeVerdict";
import { GpuSharingResult } from "./components/sharingVerdict";
import { GpuVerificationResult } from "./components/verificationResult";

function validatedConfig(): GpuMinikubeConfig {
    try {
        return loadConfig();
    } catch (err) {
        // RunError prints just the message: a config mistake deserves no stack trace.
        if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

const cfg = validatedConfig();

/** The minikube-mode result: the single Job's verdict, also given as its node's entry in `nodes`. */
type MinikubeVerification = GpuVerificationResult & { sharing?: GpuSharingResult } & { nodes: Record<string, Omit<NodeVerdict, "verifiedAt"> & { verifiedAt: string | null }> };

/** The stack outputs; an output left undefined is absent from the stack. */
interface StackOutputs {
    profile?: string;
    kubeconfig: pulumi.Output<string>;
    hostPrep?: HostPrep["summary"];
    dockerGpuCheck?: HostPrep["dockerGpuCheck"];
    gpuAllocatable: pulumi.Output<Record<string, number>>;
    gpuVerification: pulumi.Output<MinikubeVerification | ClusterVerificationResult>;
}

/** `cluster.mode: minikube`: prepare this host, start minikube, verify its GPU against the host's. */
function minikubeStack(): StackOutputs {
    // The host's driver version and GPU UUIDs, read (read-only) on every preview and up: a driver
    // upgrade since the last run re-runs preflight and the Docker GPU check, re-checks allocatable
    // GPUs and re-runs the verification.
    const hostFacts = readHostFacts();

    const host = new HostPrep("host", {
        minikubeGpus: cfg.minikube.gpus,
        minikubeForce: cfg.minikube.force,
        installToolkit: cfg.hostPrep.installToolkit,
        configureDocker: cfg.hostPrep.configureDocker,
        timeoutSeconds: cfg.hostPrep.timeoutSeconds,
        cudaImage: cfg.verification.image,
        recheckToken: hostFacts.token,
    });

    // The vectorAdd/nbody images are pulled on the host while the cluster starts.
    const computeWorkloads = cfg.verification.workloads.filter((w) => w !== "nvidia-smi");
    const workloadImages = new WorkloadImages("workload-images", {
        images: Object.fromEntries(computeWorkloads.map((w) => [w, cfg.verification.images[w]])),
    }, { dependsOn: [host.ready] });

    const cluster = new MinikubeCluster("cluster", {
        profile: cfg.profile,
        ...cfg.minikube,
    }, { dependsOn: [host.ready] });

    // With verification.alwaysRerun, a value new on every run re-checks allocatable GPUs too.
    const rerunNonce = cfg.verification.alwaysRerun ? new Date().toISOString() : "";

    const devicePlugin = new DevicePlugin("device-plugin", {
        profile: cfg.profile,
        kubeconfig: cluster.kubeconfig,
        mode: cfg.devicePlugin.mode === "manifest" ? "manifest" : "addon",
        timeoutSeconds: cfg.devicePlugin.timeoutSeconds,
        provider: cluster.provider,
        image: cfg.devicePlugin.image,
        sharing: cfg.devicePlugin.sharing,
        // `--gpus all` hands every node all of the host's GPUs; WSL2's plugin reports one whatever the count.
        gpusPerNode: host.preflight.apply((p) => (p.wsl2 ? null : p.gpus.length)),
        clusterStartToken: cluster.startToken,
        recheckToken: hostFacts.token.apply((t) => (rerunNonce ? `${t}-${rerunNonce}` : t)),
        deletedWith: cluster.ready,
    }, { dependsOn: [cluster.ready] });

    const verification = new GpuVerification("gpu-verification", {
        profile: cfg.profile,
        kubeconfig: cluster.kubeconfig,
        provider: cluster.provider,
        image: cfg.verification.image,
        imageId: host.cudaImage.imageId,
        gpus: cfg.verification.gpus,
        timeoutSeconds: cfg.verification.timeoutSeconds,
        runId: cfg.verification.runId,
        alwaysRerun: cfg.verification.alwaysRerun,
        workloads: cfg.verification.workloads,
        workloadImages: cfg.verification.images,
        workloadImageIds: Object.fromEntries(Object.entries(workloadImages.images).map(([w, image]) => [w, image.imageId])),
        hostDriverVersion: hostFacts.facts.driverVersion,
        hostGpuUuids: hostFacts.facts.gpuUuids,
        clusterStartToken: cluster.startToken,
        deletedWith: cluster.ready,
        sharing: cfg.devicePlugin.sharing.strategy === "timeSlicing"
            ? { strategy: "timeSlicing", replicas: devicePlugin.sharesPerGpu, resourceName: devicePlugin.resourceName } : undefined,
    }, { dependsOn: [devicePlugin.ready] });

    return {
        profile: cfg.profile,
        kubeconfig: cluster.kubeconfig,
        hostPrep: host.summary,
        dockerGpuCheck: host.dockerGpuCheck,
        gpuAllocatable: devicePlugin.gpuAllocatable,
        // minikube has one GPU node: its verdict is also the `nodes` entry, as in existing mode.
        gpuVerification: verification.result.apply((r) => ({
            ...r,
            nodes: r.node === null ? {} : {
                [r.node]: {
                    passed: r.passed, reasons: r.reasons, driverVersion: r.driverVersion, cudaVersion: r.cudaVersion,
                    gpus: r.gpus, verifiedAt: r.verifiedAt,
                },
            },
        })),
    };
}

/**
 * `cluster.mode: existing`: reach a cluster through its kubeconfig and verify every GPU node.
 * Nothing on this machine is prepared or changed, and no minikube exists.
 */
function existingStack(): StackOutputs {
    // devicePlugin.mode "manifest": NVIDIA's plugin is placed by these labels, which then also define the GPU nodes.
    const placement = cfg.devicePlugin.mode === "manifest" ? pluginPlacement(cfg.verification.nodeSelector) : undefined;
    const cluster = new ExistingCluster("existing-cluster", {
        kubeconfig: pulumi.secret(cfg.cluster.kubeconfig ?? ""),
        context: cfg.cluster.context,
        nodeSelector: cfg.verification.nodeSelector,
        gpuNodeLabels: placement,
    });
    // devicePlugin.mode "none": the cluster runs its own plugin; nodes are checked as they are.
    const plugin = placement === undefined ? undefined : new ExistingDevicePlugin("existing-device-plugin", {
        cluster,
        placement,
        image: cfg.devicePlugin.image,
        sharing: cfg.devicePlugin.sharing,
        timeoutSeconds: cfg.devicePlugin.timeoutSeconds,
        nodesToken: cluster.gpuNodesToken,
        // Another plugin on the placed nodes (GPU Operator, GKE, a cloud add-on) stops the deploy.
        otherPlugins: cluster.observed.apply((o) => ({
            plugins: o.devicePlugins, listError: o.devicePluginsError, placedNodes: o.nodes.map((n) => n.name),
        })),
    }, { dependsOn: [cluster.ready] });
    const verification = new GpuNodeVerification("gpu-node-verification", {
        cluster,
        // With our plugin, the counts it brought come from its wait: they do not re-verify on the next up.
        // Short nodes join the token only when there are any, so a run with none keeps its old token.
        nodesToken: plugin === undefined ? cluster.gpuNodesToken
            : pulumi.all([cluster.gpuNodesTokenSansCounts, plugin.gpuAllocatable, plugin.shortNodes]).apply(([t, alloc, short]) =>
                `${t}:${JSON.stringify(alloc)}${Object.keys(short).length > 0 ? `:${JSON.stringify(short)}` : ""}`),
        // A node the plugin wait found short fails with that reason; the others are verified.
        nodeProblems: plugin?.shortNodes,
        image: cfg.verification.image,
        gpus: cfg.verification.gpus,
        timeoutSeconds: cfg.verification.timeoutSeconds,
        runId: cfg.verification.runId,
        alwaysRerun: cfg.verification.alwaysRerun,
        parallelism: cfg.verification.parallelism,
        nodeSelector: placement ?? cfg.verification.nodeSelector,
    }, { dependsOn: [plugin?.ready ?? cluster.ready] });
    return {
        kubeconfig: cluster.kubeconfig,
        gpuAllocatable: plugin?.gpuAllocatable ?? cluster.observed.apply((o) => Object.fromEntries(
            o.nodes.filter((n) => n.isGpuNode).map((n) => [n.name, n.allocatable]))),
        gpuVerification: verification.result,
    };
}

const outputs = cfg.cluster.mode === "existing" ? existingStack() : minikubeStack();

/** The minikube profile (also the kube context name); absent for an existing cluster. */
export const profile = outputs.profile;
/** Kubeconfig of the cluster (secret): `pulumi stack output kubeconfig --show-secrets`. */
export const kubeconfig = outputs.kubeconfig;
/** What host prep found and changed (minikube mode only). */
export const hostPrep = outputs.hostPrep;
/** Docker's own GPU container check, parsed (minikube mode only). */
export const dockerGpuCheck = outputs.dockerGpuCheck;
/** Node name → allocatable `nvidia.com/gpu`. */
export const gpuAllocatable = outputs.gpuAllocatable;
/**
 * The verification's result, with one verdict per GPU node in `nodes`; gate pipelines on
 * `.passed == true` (a missing output means not verified). A failed verification is recorded here
 * with its reasons, and `pulumi up` fails.
 */
export const gpuVerification = outputs.gpuVerification;
