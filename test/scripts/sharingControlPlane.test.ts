// GPU sharing (issue 12) on a real control plane (kube-apiserver, controller manager and scheduler
// v1.37.2, kwok GPU nodes; test/harness/controlPlane.ts) with the real kubectl. Everything comes from
// the program's own code: the config is validated by resolveConfig, the plugin's ConfigMap and
// DaemonSet and the verification Job are the components' manifests (applied server-side, as the
// Pulumi Kubernetes provider applies them), the node advertises what the plugin would (its status
// patched as the kubelet does once a plugin registers `replicas` devices per GPU), and the real
// scripts (device-plugin.sh, verification-wait.sh, verification-sharing.sh) read the result back for
// the verdict (components/sharingVerdict.ts).
// - `replicas` pods on a node advertising `replicas` shares run at once; the verdict passes;
// - `replicas + 1` pods: exactly one stays Pending with the scheduler's `Insufficient nvidia.com/gpu`;
// - renameByDefault: nvidia.com/gpu.shared is what device-plugin.sh counts and the pods request.
// kwok has no containers: each pod "runs" from kwok's pod-ready to its pod-complete stage. The test
// adds kwok's pod-complete delay annotation to the Job's pod template (to model the container's hold)
// and a nodeSelector (one node per test in this shared control plane); nothing else is changed.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveConfig, SharingConfig } from "../../components/config";
import { buildPluginConfigMap, buildPluginDaemonSet, GPU_RESOURCE, sharedResourceName, sharesPerGpu } from "../../components/devicePluginManifest";
import { verificationJobSpec } from "../../components/gpuVerification";
import { evaluateSharing, toSharingPods } from "../../components/sharingVerdict";
import { buildVerificationJob } from "../../components/verificationJob";
import { ControlPlane, controlPlaneMissing, startControlPlane } from "../harness/controlPlane";
import { skipOrFailUnderCi } from "../harness/realTools";
import { SimHost, summaryOf, writeMinikubeProfile } from "../harness/simHost";

const LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200 = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const REPLICAS = 4;

const missing = controlPlaneMissing();
let cp: ControlPlane | undefined;
let host: SimHost | undefined;

before(async () => {
    if (missing) return;
    // Pod stages after 0.3–1.5 s, so the Jobs' pods start within a few seconds of each other.
    cp = await startControlPlane({ podStageDelay: { minMs: 300, maxMs: 1500 } });
    host = SimHost.create({ standins: [] });
});
after(async () => {
    host?.cleanup();
    await cp?.stop();
});

/** The validated `devicePlugin.sharing` of a stack with time-slicing at REPLICAS (as `pulumi config set --path` stores it). */
function sharingConfig(replicas: number, renameByDefault: boolean): SharingConfig {
    const cfg = resolveConfig({ devicePlugin: JSON.stringify({ mode: "manifest", sharing: { strategy: "timeSlicing", replicas, renameByDefault } }) });
    return cfg.devicePlugin.sharing;
}

/**
 * The verification Job GpuVerification builds for SHARING (its spec from the same function), in
 * NAMESPACE, pinned to NODE, its pods "running" for HOLD (kwok's pod-complete delay).
 */
function sharingJob(namespace: string, node: string, sharing: SharingConfig, hold: string) {
    const spec = verificationJobSpec({ sharing: { strategy: sharing.strategy, replicas: sharesPerGpu(sharing), resourceName: sharedResourceName(sharing) } });
    const job = buildVerificationJob(spec, namespace);
    const template = job.spec.template as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> };
    // kwok takes the jitter bound as the delay when it is not above the delay (lifecycle.go Stage.Delay):
    // both set to HOLD make the hold exact.
    template.metadata.annotations = { "pod-complete.stage.kwok.x-k8s.io/delay": hold, "pod-complete.stage.kwok.x-k8s.io/jitter-delay": hold };
    template.spec.nodeSelector = { "gm-test-node": node };
    return job;
}

/**
 * NAMESPACE, and NODE with one physical GPU on which NVIDIA's plugin (the components' ConfigMap and
 * DaemonSet for SHARING, applied server-side) registered its shares: the node's status then says
 * `1 × replicas` of the shared resource (and no plain nvidia.com/gpu when it is renamed).
 */
async function setUp(namespace: string, node: string, sharing: SharingConfig): Promise<ControlPlane> {
    assert.ok(cp);
    await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    // One physical GPU as the kubelet reports it before the plugin runs with the sharing config.
    await cp.addGpuNode(node, { gpus: 1, labels: { "gm-test-node": node } });
    const spec = { image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0", sharing };
    await cp.apply(buildPluginConfigMap(spec), buildPluginDaemonSet(spec));
    const resource = sharedResourceName(sharing);
    if (resource !== GPU_RESOURCE) await cp.setAllocatable(node, GPU_RESOURCE, 0);
    await cp.setAllocatable(node, resource, 1 * sharesPerGpu(sharing));
    await cp.setPodLogs(`log-${namespace}`, { namespaces: [namespace] }, LOG);
    return cp;
}

interface PodRow { name: string; phase: string; scheduled: string }

/** The Job's pods now: name, phase, PodScheduled status. */
async function podsOf(c: ControlPlane, namespace: string, job: string): Promise<PodRow[]> {
    const out = await c.kubectlOk(["-n", namespace, "get", "pods", "-l", `job-name=${job}`, "-o",
        'jsonpath={range .items[*]}{.metadata.name}{"|"}{.status.phase}{"|"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{end}{"\\n"}{end}']);
    return out.split("\n").filter(Boolean).map((l) => {
        const [name, phase, scheduled] = l.split("|");
        return { name, phase, scheduled: scheduled ?? "" };
    });
}

/** Polls the Job's pods until DONE says so (or fails after 120 s with what it saw). */
async function waitPods(c: ControlPlane, namespace: string, job: string, done: (pods: PodRow[]) => boolean): Promise<PodRow[]> {
    const deadline = Date.now() + 120_000;
    let seen: PodRow[] = [];
    while (Date.now() < deadline) {
        seen = await podsOf(c, namespace, job);
        if (done(seen)) return seen;
        await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(`pods of ${namespace}/${job} did not get there in 120 s; last seen:\n${JSON.stringify(seen)}`);
}

/** Runs a script with the real kubectl first on PATH and the cluster's kubeconfig. */
function runScript(c: ControlPlane, script: string, extra: Record<string, string>) {
    assert.ok(host);
    return host.runScript(script, {
        PATH: `${path.dirname(c.kubectlPath)}:${host.env().PATH}`,
        GM_KUBECONFIG: c.kubeconfig,
        KUBECACHEDIR: path.join(host.root, "kube-cache"),
        ...extra,
    }, 180_000);
}

async function sharingEvidence(c: ControlPlane, namespace: string, job: string) {
    const run = await runScript(c, "verification-sharing.sh", { GM_NAMESPACE: namespace, GM_JOB_NAME: job, GM_TIMEOUT_SECONDS: "60" });
    assert.equal(run.code, 0, run.stderr);
    return toSharingPods(summaryOf(run));
}

describe("GPU sharing on the real control plane with kwok GPU nodes", { timeout: 900_000 }, () => {
    it("renamed resource: device-plugin.sh counts nvidia.com/gpu.shared exactly; pods request it, one more stays Pending", async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const sharing = sharingConfig(REPLICAS, true);
        assert.equal(sharedResourceName(sharing), "nvidia.com/gpu.shared");
        const c = await setUp("share-renamed", "gpu-shared", sharing);
        assert.ok(host);
        writeMinikubeProfile(host, { addons: [] });
        const proc = path.join(host.root, "proc");
        fs.mkdirSync(path.join(proc, "sys", "net", "core"), { recursive: true });
        fs.writeFileSync(path.join(proc, "sys", "net", "core", "bpf_jit_harden"), "0\n");
        fs.writeFileSync(path.join(proc, "version"), "Linux version 6.8.0\n");
        const pluginEnv = { GM_PROFILE: "gpu-minikube", GM_MODE: "manifest", GM_RESOURCE_NAME: sharedResourceName(sharing), GM_POLL_SECONDS: "0.5", GM_PROC_DIR: proc };

        // What DevicePlugin passes: GPUs per node (1 here) × shares per GPU.
        const ready = await runScript(c, "device-plugin.sh", { ...pluginEnv, GM_TIMEOUT_SECONDS: "60", GM_EXPECTED_PER_NODE: String(1 * sharesPerGpu(sharing)) });
        assert.equal(ready.code, 0, ready.stderr);
        assert.deepEqual(summaryOf(ready), {
            stage: "device-plugin", mode: "manifest", enabledByUs: false, resourceName: "nvidia.com/gpu.shared",
            expectedPerNode: REPLICAS, gpuAllocatable: { "gpu-shared": REPLICAS },
        });
        const wrong = await runScript(c, "device-plugin.sh", { ...pluginEnv, GM_EXPECTED_PER_NODE: "8", GM_TIMEOUT_SECONDS: "4" });
        assert.equal(wrong.code, 1, "4 shares are not the 8 expected");
        assert.match(wrong.stderr, /not every node advertised 8 nvidia\.com\/gpu\.shared within 4s \(found: gpu-shared allocatable 4/);

        // One more pod than the node has shares: the config says REPLICAS + 1, the node advertises REPLICAS.
        const job = sharingJob("share-renamed", "gpu-shared", sharingConfig(REPLICAS + 1, true), "300s");
        assert.deepEqual(job.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu.shared": "1" });
        await c.apply(job);
        const pods = await waitPods(c, "share-renamed", job.metadata.name, (ps) =>
            ps.filter((p) => p.phase === "Running").length === REPLICAS && ps.filter((p) => p.scheduled === "False").length === 1);
        assert.equal(pods.length, REPLICAS + 1);
        // What the API server stored: every pod asks for one nvidia.com/gpu.shared and nothing else.
        const limits = await c.kubectlOk(["-n", "share-renamed", "get", "pods", "-l", `job-name=${job.metadata.name}`, "-o",
            'jsonpath={range .items[*]}{.spec.containers[0].resources.limits}{"\\n"}{end}']);
        assert.deepEqual(limits.trim().split("\n").map((l) => JSON.parse(l)), Array(REPLICAS + 1).fill({ "nvidia.com/gpu.shared": "1" }));
        const evidence = await sharingEvidence(c, "share-renamed", job.metadata.name);
        assert.equal(evidence.pods.length, REPLICAS + 1);
        const pending = evidence.pods.filter((p) => p.unschedulable !== null);
        assert.equal(pending.length, 1);
        assert.match(pending[0].unschedulable ?? "", /Insufficient nvidia\.com\/gpu\.shared/);
        await c.kubectlOk(["-n", "share-renamed", "delete", "job", job.metadata.name, "--cascade=background", "--wait=false"]);
    });

    it(`${REPLICAS} pods on a node advertising ${REPLICAS} shares run at once; wait, evidence and verdict pass`, async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const sharing = sharingConfig(REPLICAS, false);
        const c = await setUp("share-fits", "gpu-fits", sharing);
        // A long hold, so that watching the pods from here sees them all Running however slow this machine is.
        const job = sharingJob("share-fits", "gpu-fits", sharing, "20s");
        assert.equal(job.spec.parallelism, REPLICAS);
        assert.equal(job.spec.completions, REPLICAS);
        assert.deepEqual(job.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu": "1" });
        await c.apply(job);
        const uid = (await c.kubectlOk(["-n", "share-fits", "get", "job", job.metadata.name, "-o", "jsonpath={.metadata.uid}"])).trim();
        // As the component chains them: the wait step, then the sharing evidence.
        const waitRun = runScript(c, "verification-wait.sh", {
            GM_NAMESPACE: "share-fits", GM_JOB_NAME: job.metadata.name, GM_JOB_UID: uid, GM_TIMEOUT_SECONDS: "300", GM_POLL_SECONDS: "1",
        });
        const running = await waitPods(c, "share-fits", job.metadata.name, (ps) => ps.filter((p) => p.phase === "Running").length === REPLICAS);
        assert.equal(running.length, REPLICAS, "all pods Running at the same moment, none Pending");
        const wait = await waitRun;
        assert.equal(wait.code, 0, wait.stderr);
        assert.equal(summaryOf(wait).succeeded, true, wait.stderr);
        const evidence = await sharingEvidence(c, "share-fits", job.metadata.name);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: REPLICAS, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, true, `${verdict.reasons.join("\n")}\n${JSON.stringify(evidence.pods.map((p) => [p.name, p.startedAt, p.finishedAt]))}`);
        assert.equal(verdict.concurrentPods, REPLICAS);
        assert.equal(verdict.sameGpu, true);
        assert.ok(verdict.overlapSeconds > 0);
        assert.deepEqual(verdict.pendingPods, []);
    });

    it(`${REPLICAS + 1} pods on ${REPLICAS} shares: exactly one stays Pending with Insufficient nvidia.com/gpu, which the verdict reports`, async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const c = await setUp("share-over", "gpu-over", sharingConfig(REPLICAS, false));
        // The config asks for one share more than the node advertises.
        const job = sharingJob("share-over", "gpu-over", sharingConfig(REPLICAS + 1, false), "300s");
        await c.apply(job);
        await waitPods(c, "share-over", job.metadata.name, (pods) =>
            pods.filter((p) => p.phase === "Running").length === REPLICAS && pods.filter((p) => p.scheduled === "False").length === 1);
        const evidence = await sharingEvidence(c, "share-over", job.metadata.name);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: REPLICAS + 1, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, false);
        assert.equal(verdict.concurrentPods, REPLICAS);
        assert.equal(verdict.pendingPods.length, 1);
        assert.match(verdict.pendingPods[0].reason, /^0\/\d+ nodes are available: .*\bInsufficient nvidia\.com\/gpu\b/);
        assert.match(verdict.reasons.join("\n"), /was Pending: .*Insufficient nvidia\.com\/gpu/);
        await c.kubectlOk(["-n", "share-over", "delete", "job", job.metadata.name, "--cascade=background", "--wait=false"]);
    });
});
