// Composition root: config → host prep → cluster → device plugin → verification → stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, GpuMinikubeConfig, loadConfig } from "./components/config";
import { DevicePlugin } from "./components/devicePlugin";
import { GpuVerification } from "./components/gpuVerification";
import { HostPrep } from "./components/hostPrep";
import { MinikubeCluster } from "./components/minikubeCluster";

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

const host = new HostPrep("host", {
    minikubeGpus: cfg.minikube.gpus,
    minikubeForce: cfg.minikube.force,
    installToolkit: cfg.hostPrep.installToolkit,
    configureDocker: cfg.hostPrep.configureDocker,
    timeoutSeconds: cfg.hostPrep.timeoutSeconds,
    cudaImage: cfg.verification.image,
});

const cluster = new MinikubeCluster("cluster", {
    profile: cfg.profile,
    ...cfg.minikube,
    dependsOn: [host.ready],
});

const devicePlugin = new DevicePlugin("device-plugin", {
    profile: cfg.profile,
    kubeconfig: cluster.kubeconfig,
    mode: cfg.devicePlugin.mode,
    timeoutSeconds: cfg.devicePlugin.timeoutSeconds,
    provider: cluster.provider,
    image: cfg.devicePlugin.image,
    sharing: cfg.devicePlugin.sharing,
    // `--gpus all` hands every node all of the host's GPUs; WSL2's plugin reports one whatever the count.
    gpusPerNode: host.preflight.apply((p) => (p.wsl2 ? null : p.gpus.length)),
    clusterStartToken: cluster.startToken,
    dependsOn: [cluster.ready],
});

const verification = new GpuVerification("gpu-verification", {
    profile: cfg.profile,
    kubeconfig: cluster.kubeconfig,
    provider: cluster.provider,
    ...cfg.verification,
    hostDriverVersion: host.preflight.driverVersion,
    hostGpuUuids: host.preflight.gpus.apply((gpus) => gpus.map((g) => g.uuid)),
    clusterStartToken: cluster.startToken,
    dependsOn: [devicePlugin.ready],
    sharing: cfg.devicePlugin.sharing.strategy === "timeSlicing"
        ? { strategy: "timeSlicing", replicas: devicePlugin.sharesPerGpu, resourceName: devicePlugin.resourceName } : undefined,
});

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
/** The verification Job's parsed result; gate pipelines on `.passed`. */
export const gpuVerification = verification.result;
