// Composition root: config → host prep → cluster → device plugin → verification → stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, GpuMinikubeConfig, loadConfig } from "./components/config";
import { DevicePlugin } from "./components/devicePlugin";
import { GpuVerification } from "./components/gpuVerification";
import { readHostFacts } from "./components/hostFacts";
import { HostPrep } from "./components/hostPrep";
import { MinikubeCluster } from "./components/minikubeCluster";
import { WorkloadImages } from "./components/workloadImages";

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
    mode: cfg.devicePlugin.mode,
    timeoutSeconds: cfg.devicePlugin.timeoutSeconds,
    clusterStartToken: cluster.startToken,
    recheckToken: hostFacts.token.apply((t) => (rerunNonce ? `${t}-${rerunNonce}` : t)),
    deletedWith: cluster.ready,
}, { dependsOn: [cluster.ready] });

const verification = new GpuVerification("gpu-verification", {
    profile: cfg.profile,
    kubeconfig: cluster.kubeconfig,
    provider: cluster.provider,
    ...cfg.verification,
    workloadImages: cfg.verification.images,
    workloadImageIds: Object.fromEntries(Object.entries(workloadImages.images).map(([w, image]) => [w, image.imageId])),
    hostDriverVersion: hostFacts.facts.driverVersion,
    hostGpuUuids: hostFacts.facts.gpuUuids,
    clusterStartToken: cluster.startToken,
    deletedWith: cluster.ready,
}, { dependsOn: [devicePlugin.ready] });

/** The minikube profile (also the kube context name). */
export const profile = cfg.profile;
/** Self-contained kubeconfig of the cluster (secret): `pulumi stack output kubeconfig --show-secrets`. */
export const kubeconfig = cluster.kubeconfig;
/** What host prep found and changed. */
export const hostPrep = host.summary;
/** Docker's own GPU container check, parsed. */
export const dockerGpuCheck = host.dockerGpuCheck;
/** Node name → allocatable `nvidia.com/gpu`. */
export const gpuAllocatable = devicePlugin.gpuAllocatable;
/**
 * The verification Job's parsed result; gate pipelines on `.passed == true` (a missing output means
 * not verified). A failed verification is recorded here with its reasons, and `pulumi up` fails.
 */
export const gpuVerification = verification.result;
