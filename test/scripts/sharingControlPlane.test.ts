// GPU sharing on a real control plane (kube-apiserver, controller manager and scheduler v1.37.2,
// kwok GPU nodes; test/harness/controlPlane.ts) with the real kubectl: nodes advertise shares the way
// NVIDIA's plugin does with time-slicing, the real Job controller and scheduler place one pod per
// share, and the real scripts read the result back for the verdict.
// - `replicas` pods on a node advertising `replicas` shares run at once; the verdict passes;
// - `replicas + 1` pods: one stays Pending with the scheduler's `Insufficient nvidia.com/gpu`;
// - the renamed resource nvidia.com/gpu.shared is what device-plugin.sh counts and the pods request.
// kwok has no containers: each pod "runs" from kwok's pod-ready to its pod-complete stage. The Job's
// pods carry kwok's pod-complete delay annotation to model the verification container's hold
// (SHARING_HOLD_SECONDS); the verdict reads the times kwok recorded, as it reads the kubelet's.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
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

/** The sharing verification Job, pinned to NODE, its pods "running" for HOLD (kwok's pod-complete delay). */
function sharingJob(namespace: string, node: string, pods: number, resourceName: string, hold: string) {
    const job = buildVerificationJob({ image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 600, runId: namespace, resourceName, pods }, namespace);
    const template = job.spec.template as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: Record<string, unknown> };
    // kwok takes the jitter bound as the delay when it is not above the delay (lifecycle.go Stage.Delay):
    // both set to HOLD make the hold exact.
    template.metadata.annotations = { "pod-complete.stage.kwok.x-k8s.io/delay": hold, "pod-complete.stage.kwok.x-k8s.io/jitter-delay": hold };
    template.spec.nodeSelector = { "gm-test-node": node };
    return job;
}

async function setUp(namespace: string, node: string, resourceName: string): Promise<ControlPlane> {
    assert.ok(cp);
    await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await cp.addGpuNode(node, { gpus: REPLICAS, resourceName, labels: { "gm-test-node": node } });
    await cp.setPodLogs(`log-${namespace}`, { namespaces: [namespace] }, LOG);
    return cp;
}

/** Polls `kubectl get pods` of JOB until DONE says so (or fails after 90 s with what it saw). */
async function waitPods(c: ControlPlane, namespace: string, job: string, done: (pods: Array<{ phase: string; scheduled: string }>) => boolean) {
    const deadline = Date.now() + 90_000;
    let seen = "";
    while (Date.now() < deadline) {
        const out = await c.kubectlOk(["-n", namespace, "get", "pods", "-l", `job-name=${job}`, "-o",
            'jsonpath={range .items[*]}{.status.phase}{"|"}{range .status.conditions[?(@.type=="PodScheduled")]}{.status}{end}{"\\n"}{end}']);
        seen = out;
        const pods = out.split("\n").filter(Boolean).map((l) => ({ phase: l.split("|")[0], scheduled: l.split("|")[1] ?? "" }));
        if (done(pods)) return;
        await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(`pods of ${namespace}/${job} did not get there in 90 s; last seen:\n${seen}`);
}

/** Runs a script with the real kubectl first on PATH and the cluster's kubeconfig. */
function runScript(c: ControlPlane, script: string, extra: Record<string, string>) {
    assert.ok(host);
    return host.runScript(script, {
        PATH: `${path.dirname(c.kubectlPath)}:${host.env().PATH}`,
        GM_KUBECONFIG: c.kubeconfig,
        ...extra,
    }, 120_000);
}

async function sharingEvidence(c: ControlPlane, namespace: string, job: string) {
    const run = await runScript(c, "verification-sharing.sh", { GM_NAMESPACE: namespace, GM_JOB_NAME: job, GM_TIMEOUT_SECONDS: "60" });
    assert.equal(run.code, 0, run.stderr);
    return toSharingPods(summaryOf(run));
}

describe("GPU sharing on the real control plane with kwok GPU nodes", { timeout: 600_000 }, () => {
    it("renamed resource: device-plugin.sh counts nvidia.com/gpu.shared exactly; pods request it, one more stays Pending", async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const c = await setUp("share-renamed", "gpu-shared", "nvidia.com/gpu.shared");
        assert.ok(host);
        writeMinikubeProfile(host, { addons: [] });
        const proc = path.join(host.root, "proc");
        fs.mkdirSync(path.join(proc, "sys", "net", "core"), { recursive: true });
        fs.writeFileSync(path.join(proc, "sys", "net", "core", "bpf_jit_harden"), "0\n");
        fs.writeFileSync(path.join(proc, "version"), "Linux version 6.8.0\n");
        const pluginEnv = { GM_PROFILE: "gpu-minikube", GM_MODE: "manifest", GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_TIMEOUT_SECONDS: "20", GM_POLL_SECONDS: "0.5", GM_PROC_DIR: proc };

        const ready = await runScript(c, "device-plugin.sh", { ...pluginEnv, GM_EXPECTED_PER_NODE: String(REPLICAS) });
        assert.equal(ready.code, 0, ready.stderr);
        assert.deepEqual(summaryOf(ready), {
            stage: "device-plugin", mode: "manifest", enabledByUs: false, resourceName: "nvidia.com/gpu.shared",
            expectedPerNode: REPLICAS, gpuAllocatable: { "gpu-shared": REPLICAS },
        });
        const wrong = await runScript(c, "device-plugin.sh", { ...pluginEnv, GM_EXPECTED_PER_NODE: "8", GM_TIMEOUT_SECONDS: "4" });
        assert.equal(wrong.code, 1, "4 shares are not the 8 expected");
        assert.match(wrong.stderr, /not every node advertised 8 nvidia\.com\/gpu\.shared within 4s \(found: gpu-shared allocatable 4/);

        const job = sharingJob("share-renamed", "gpu-shared", REPLICAS + 1, "nvidia.com/gpu.shared", "300s");
        assert.deepEqual(job.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu.shared": "1" });
        await c.apply(job);
        await waitPods(c, "share-renamed", job.metadata.name, (pods) =>
            pods.filter((p) => p.phase === "Running").length === REPLICAS && pods.filter((p) => p.scheduled === "False").length === 1);
        const evidence = await sharingEvidence(c, "share-renamed", job.metadata.name);
        assert.equal(evidence.pods.length, REPLICAS + 1);
        const pending = evidence.pods.filter((p) => p.unschedulable !== null);
        assert.equal(pending.length, 1);
        assert.match(pending[0].unschedulable ?? "", /Insufficient nvidia\.com\/gpu\.shared/);
        await c.kubectlOk(["-n", "share-renamed", "delete", "job", job.metadata.name, "--cascade=foreground", "--wait=false"]);
    });

    it(`${REPLICAS} pods on a node advertising ${REPLICAS} shares run at once; the verdict passes`, async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const c = await setUp("share-fits", "gpu-fits", "nvidia.com/gpu");
        const job = sharingJob("share-fits", "gpu-fits", REPLICAS, "nvidia.com/gpu", "6s");
        assert.equal(job.spec.parallelism, REPLICAS);
        assert.equal(job.spec.completions, REPLICAS);
        await c.apply(job);
        await waitPods(c, "share-fits", job.metadata.name, (pods) => pods.length === REPLICAS && pods.every((p) => p.phase === "Succeeded"));
        const evidence = await sharingEvidence(c, "share-fits", job.metadata.name);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: REPLICAS, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, true, `${verdict.reasons.join("\n")}\n${JSON.stringify(evidence.pods.map((p) => [p.name, p.startedAt, p.finishedAt]))}`);
        assert.equal(verdict.concurrentPods, REPLICAS);
        assert.equal(verdict.sameGpu, true);
        assert.ok(verdict.overlapSeconds > 0);
        assert.deepEqual(verdict.pendingPods, []);
    });

    it(`${REPLICAS + 1} pods on ${REPLICAS} shares: one stays Pending with Insufficient nvidia.com/gpu, which the verdict reports`, async (t) => {
        if (missing) return skipOrFailUnderCi(t, missing);
        const c = await setUp("share-over", "gpu-over", "nvidia.com/gpu");
        const job = sharingJob("share-over", "gpu-over", REPLICAS + 1, "nvidia.com/gpu", "300s");
        await c.apply(job);
        await waitPods(c, "share-over", job.metadata.name, (pods) =>
            pods.filter((p) => p.phase === "Running").length === REPLICAS && pods.filter((p) => p.scheduled === "False").length === 1);
        const evidence = await sharingEvidence(c, "share-over", job.metadata.name);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: REPLICAS, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, false);
        assert.equal(verdict.concurrentPods, REPLICAS);
        assert.equal(verdict.pendingPods.length, 1);
        assert.match(verdict.pendingPods[0].reason, /Insufficient nvidia\.com\/gpu/);
        assert.match(verdict.reasons.join("\n"), /was Pending: .*Insufficient nvidia\.com\/gpu/);
        await c.kubectlOk(["-n", "share-over", "delete", "job", job.metadata.name, "--cascade=foreground", "--wait=false"]);
    });
});
