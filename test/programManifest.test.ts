// The whole program under Pulumi's mocks in mode "manifest" with time-slicing (4 shares, renamed):
// minikube's addon is disabled first, NVIDIA's plugin is a ConfigMap + DaemonSet on the cluster's
// explicit provider, readiness is 4 x the host's GPUs of nvidia.com/gpu.shared, and the verification
// runs 4 pods at once, each asking one share, whose verdict lands in gpuVerification.sharing; then
// vectorAdd runs on one share of the same renamed resource.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { parse as parseYaml } from "yaml";
import { output, Program, programMocks, scriptOf } from "./harness/programMocks";

const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const POD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const VECTORADD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "cuda-samples", "vectoradd-h200-sm90.txt"), "utf8");

const CONFIG = {
    profile: "lab-42",
    devicePlugin: {
        mode: "manifest", timeoutSeconds: 99, image: "registry.example:5000/mirror/k8s-device-plugin:v0.20.0",
        sharing: { strategy: "timeSlicing", replicas: 4, renameByDefault: true },
    },
    // The default workloads: vectorAdd runs after the sharing check, on one share.
    verification: { workloads: ["nvidia-smi", "vectorAdd"] },
};

const sharedPod = (name: string, start: number, end: number) => ({
    name, phase: "Succeeded", node: "lab-42", unschedulable: null, log: POD_LOG,
    startedAt: `2026-11-30T01:20:0${start}Z`, finishedAt: `2026-11-30T01:20:${String(end).padStart(2, "0")}Z`,
});

const SCRIPT_STDOUT: Record<string, unknown> = {
    "preflight.sh": {
        stage: "preflight", driverVersion: "580.159.04", cudaVersion: "13.0",
        gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }], dockerVersion: "28.2.2", dockerDesktop: false,
        wsl2: false, minikubeVersion: "v1.37.0", toolkitInstalled: true, nvidiaRuntime: true, bpfJitHarden: 0, warnings: [],
    },
    "install-toolkit.sh": { stage: "toolkit", changed: false, skipped: false, version: "1.20.0", installedAt: null },
    "configure-docker-runtime.sh": { stage: "docker-runtime", changed: false, restarted: false, skipped: false },
    "docker-gpu-check.sh": { stage: "docker-gpu-check", exitCode: 0, image: "nvidia/cuda:12.5.0-base-ubuntu22.04", log: POD_LOG },
    "minikube-start.sh": {
        stage: "cluster", profile: "lab-42", action: "created", minikubeVersion: "v1.37.0", kubernetesVersion: "v1.33.1",
        apiServer: "https://192.168.49.2:8443", kubeconfig: "apiVersion: v1\nkind: Config\nclusters: []\n",
    },
    "device-plugin-addon-disable.sh": { stage: "device-plugin-addon-disable", addonWasEnabled: true, disabled: true },
    "device-plugin.sh": {
        stage: "device-plugin", mode: "manifest", enabledByUs: false, resourceName: "nvidia.com/gpu.shared", expectedPerNode: 4,
        gpuAllocatable: { "lab-42": 4 },
    },
    "minikube-image-load.sh": { stage: "image-load", image: "nvidia/cuda:12.5.0-base-ubuntu22.04", loaded: true },
    "verification-wait.sh": { stage: "verification", jobName: "x", succeeded: true, pod: "x-a", node: "lab-42", log: POD_LOG },
    "verification-sharing.sh": {
        stage: "verification-sharing", jobName: "x",
        pods: [sharedPod("x-a", 1, 7), sharedPod("x-b", 1, 7), sharedPod("x-c", 2, 8), sharedPod("x-d", 2, 7)],
        failedScheduling: [],
    },
};

/** What each read-only probe (an invoke) "printed". */
const PROBE_STDOUT: Record<string, unknown> = {
    "minikube-observe.sh": { state: "Running", token: "tok-1" },
    "host-facts.sh": { driverVersion: "580.159.04", gpuUuids: [H200_UUID], error: null },
    "verification-observe.sh": { failedAttempts: 0 },
    "docker-endpoint.sh": { stage: "docker-endpoint", dockerHost: "unix:///var/run/docker.sock", reachable: true },
};

const mocks = programMocks({
    config: CONFIG,
    scriptStdout: SCRIPT_STDOUT,
    probeStdout: PROBE_STDOUT,
    // vectorAdd's wait step reads its own Job's log.
    jobStdout: (job) => job.startsWith("gpu-verify-vectoradd-")
        ? { ...(SCRIPT_STDOUT["verification-wait.sh"] as object), jobName: job, log: VECTORADD_LOG }
        : undefined,
    resourceState: { "docker:index/remoteImage:RemoteImage": { repoDigest: "nvidia/cuda@sha256:abcd" } },
});
const { registered, find, command } = mocks;
const env = (name: string) => command(name).inputs.environment as Record<string, string>;
let program: Program;

before(async () => {
    program = await mocks.run();
});

describe("manifest mode resources", () => {
    it("no addon step; an addon-disable step runs first, on the minikube profile", () => {
        assert.ok(!registered.some((r) => r.name === "device-plugin-addon"), "mode addon's step must not exist");
        const off = command("device-plugin-addon-disable");
        assert.equal(scriptOf(off.inputs.create), "device-plugin-addon-disable.sh");
        assert.equal(off.inputs.delete, undefined, "nothing to undo: mode addon enables the addon again");
        assert.equal(env("device-plugin-addon-disable").GM_PROFILE, "lab-42");
        assert.equal(env("device-plugin-addon-disable").GM_CLUSTER_START_TOKEN, "tok-1", "a recreated cluster has the addon on again");
        assert.ok(off.dependencies.includes(command("cluster-start").urn));
    });

    it("ConfigMap and DaemonSet use the cluster's explicit provider, after the addon is off", () => {
        const provider = find("pulumi:providers:kubernetes", "cluster-k8s");
        const off = command("device-plugin-addon-disable");
        for (const [type, name] of [["kubernetes:core/v1:ConfigMap", "device-plugin-config"], ["kubernetes:apps/v1:DaemonSet", "device-plugin-daemonset"]]) {
            const r = find(type, name);
            assert.ok(r.provider.startsWith(`${provider.urn}::`), `${name} uses ${r.provider}`);
            assert.ok(r.dependencies.includes(off.urn), `${name} waits for the addon to be off`);
        }
    });

    it("both validate against the Kubernetes schema; the config is NVIDIA's time-slicing format", () => {
        const cm = find("kubernetes:core/v1:ConfigMap", "device-plugin-config").inputs as { metadata: { name: string }; data: Record<string, string> };
        assert.doesNotThrow(() => new ConfigMap(cm as ConstructorParameters<typeof ConfigMap>[0]).validate());
        assert.deepEqual(parseYaml(cm.data["config.yaml"]), {
            version: "v1", flags: { migStrategy: "none", failOnInitError: true },
            sharing: { timeSlicing: { renameByDefault: true, failRequestsGreaterThanOne: true, resources: [{ name: "nvidia.com/gpu", replicas: 4 }] } },
        });
        const ds = find("kubernetes:apps/v1:DaemonSet", "device-plugin-daemonset").inputs as {
            metadata: { annotations: Record<string, string> };
            spec: { template: { spec: { containers: Array<{ image: string; env: Array<{ name: string; value: string }> }>; volumes: Array<{ configMap?: { name: string } }> } } };
        };
        assert.doesNotThrow(() => new DaemonSet(ds as ConstructorParameters<typeof DaemonSet>[0]).validate());
        const ctr = ds.spec.template.spec.containers[0];
        assert.equal(ctr.image, CONFIG.devicePlugin.image);
        assert.deepEqual(ctr.env.find((e) => e.name === "FAIL_ON_INIT_ERROR"), { name: "FAIL_ON_INIT_ERROR", value: "true" });
        assert.ok(ds.spec.template.spec.volumes.some((v) => v.configMap?.name === cm.metadata.name));
        assert.equal(ds.metadata.annotations["gpu-minikube/cluster-start-token"], "tok-1");
        assert.equal(ds.metadata.annotations["pulumi.com/skipAwait"], "true");
    });

    it("ready means every node advertises 4 shares x 1 GPU of nvidia.com/gpu.shared; verification waits for it", () => {
        const wait = command("device-plugin-wait");
        assert.equal(scriptOf(wait.inputs.create), "device-plugin.sh");
        assert.equal(wait.inputs.delete, undefined);
        const e = env("device-plugin-wait");
        assert.equal(e.GM_MODE, "manifest");
        assert.equal(e.GM_RESOURCE_NAME, "nvidia.com/gpu.shared");
        assert.equal(e.GM_EXPECTED_PER_NODE, "4");
        assert.equal(e.GM_TIMEOUT_SECONDS, "99");
        assert.ok(wait.dependencies.includes(find("kubernetes:apps/v1:DaemonSet", "device-plugin-daemonset").urn));
        assert.ok(find("kubernetes:batch/v1:Job", "gpu-verification-job").dependencies.includes(wait.urn));
    });
});

describe("sharing verification", () => {
    it("one Job of 4 pods at once, each asking one nvidia.com/gpu.shared", () => {
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-job").inputs as {
            spec: { parallelism: number; completions: number; template: { spec: { containers: Array<{ resources: { limits: Record<string, string> }; command: string[] }> } } };
        };
        assert.equal(job.spec.parallelism, 4);
        assert.equal(job.spec.completions, 4);
        assert.deepEqual(job.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu.shared": "1" });
        assert.match(job.spec.template.spec.containers[0].command.join(" "), /nvidia-smi --query-gpu=.* && sleep \d+$/);
        assert.doesNotThrow(() => new Job(job as ConstructorParameters<typeof Job>[0]).validate());
    });

    it("the evidence step reads the Job's pods after the Job was awaited", () => {
        const step = command("gpu-verification-sharing");
        assert.equal(scriptOf(step.inputs.create), "verification-sharing.sh");
        assert.ok(step.dependencies.includes(command("gpu-verification-wait").urn));
    });

    it("vectorAdd runs after the sharing check on one nvidia.com/gpu.shared (the node advertises no nvidia.com/gpu)", async () => {
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-vectoradd-job");
        const spec = job.inputs as { spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }> } } } };
        assert.deepEqual(spec.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu.shared": "1" });
        assert.ok(job.dependencies.includes(command("gpu-verification-wait").urn), "after the sharing Job was awaited");
        assert.doesNotThrow(() => new Job(spec as ConstructorParameters<typeof Job>[0]).validate());
        const v = await output(program.gpuVerification) as { workloads?: Record<string, { passed: boolean }> };
        assert.equal(v.workloads?.vectorAdd?.passed, true);
    });

    it("gpuVerification.sharing reports the verdict; gpuAllocatable shows the shares", async () => {
        const v = await output(program.gpuVerification);
        assert.equal(v.passed, true, v.reasons.join("; "));
        assert.ok("sharing" in v, "minikube mode reports the sharing check");
        assert.deepEqual(v.sharing, {
            strategy: "timeSlicing", replicas: 4, resourceName: "nvidia.com/gpu.shared", concurrentPods: 4, sameGpu: true,
            overlapSeconds: 5, pendingPods: [], passed: true, reasons: [],
        });
        assert.deepEqual(await output(program.gpuAllocatable), { "lab-42": 4 });
    });
});
