// verification-sharing.sh with the real kubectl against a real control plane: the sharing Job from
// components/verificationJob.ts (one pod per share), applied server-side; the real scheduler places
// its pods on a kwok node advertising time-sliced nvidia.com/gpu shares (or says why not), kwok runs
// them with real container start and finish times and serves their log (the recorded H200 output).
// Every pod's times, log and the scheduler's reasons reach the summary, and the summary feeds the verdict.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { evaluateSharing, toSharingPods } from "../../components/sharingVerdict";
import { buildVerificationJob } from "../../components/verificationJob";
import { ControlPlane } from "../harness/controlPlane";
import { sharedControlPlane, useRealKubectl } from "../harness/sharedControlPlane";
import { SimHost, summaryOf } from "../harness/simHost";

const LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200 = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
/** kwok keeps each pod's container running 6 s (the Job's own command sleeps while holding its share). */
const HOLD = { "pod-complete.stage.kwok.x-k8s.io/delay": "6s", "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "6s" };

describe("verification-sharing.sh (real kubectl, real API server and scheduler, kwok node with GPU shares)", () => {
    // Creating and starting a pod takes 0.3–0.6 s per stage (shipped: 1–5 s), so the pods start together.
    const shared = sharedControlPlane({ podStageDelay: { minMs: 300, maxMs: 600 } });
    let host: SimHost;
    beforeEach(() => { host = SimHost.create({ standins: [] }); });
    afterEach(() => host.cleanup());

    const env = (kubeconfig: string, ns: string, job: string, extra: Record<string, string> = {}) => ({
        GM_KUBECONFIG: kubeconfig, GM_NAMESPACE: ns, GM_JOB_NAME: job, GM_TIMEOUT_SECONDS: "60", ...extra,
    });

    /** A node advertising SHARES of nvidia.com/gpu, and the sharing Job for PODS pods pinned to it in a fresh namespace. */
    async function sharingJob(cp: ControlPlane, shares: number, pods: number): Promise<{ ns: string; job: string; node: string }> {
        const node = shared.unique("shared-gpu");
        await cp.addGpuNode(node, { gpus: shares, labels: { "gm-test/pool": node } });
        const ns = shared.unique("gpu-minikube-verification");
        const manifest = buildVerificationJob({ image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 300, runId: ns, pods }, ns);
        const template = manifest.spec.template as unknown as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
        template.metadata.annotations = HOLD;
        template.spec.nodeSelector = { "gm-test/pool": node };
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        await cp.setPodLogs(ns, { namespaces: [ns] }, LOG);
        await cp.apply(manifest);
        return { ns, job: manifest.metadata.name, node };
    }

    /** A pod labelled job-name=JOB that the Job does not own (it never runs: no node matches it). */
    async function strayPod(cp: ControlPlane, ns: string, job: string): Promise<void> {
        await cp.apply({
            apiVersion: "v1", kind: "Pod", metadata: { name: `${job}-stray`, namespace: ns, labels: { "job-name": job } },
            spec: { nodeSelector: { "gm-test/pool": "nowhere" }, containers: [{ name: "c", image: "busybox" }] },
        });
    }

    it("three pods on three shares of one GPU: every pod's container times and log, and the verdict passes (they overlapped)", async (t) => {
        const cp = shared.get(t);
        if (!cp) return;
        useRealKubectl(host, cp);
        const { ns, job, node } = await sharingJob(cp, 3, 3);
        await cp.kubectlOk(["-n", ns, "wait", "--for=condition=Complete", `job/${job}`, "--timeout=120s"], { timeoutMs: 130_000 });
        // A pod with the Job's label that the Job does not own (as one of an earlier Job of the same
        // name, still terminating, would be): never counted as one of the Job's pods.
        await strayPod(cp, ns, job);
        const uid = (await cp.kubectlOk(["-n", ns, "get", "job", job, "-o", "jsonpath={.metadata.uid}"])).trim();
        const run = await host.runScript("verification-sharing.sh", env(cp.kubeconfig, ns, job, { GM_JOB_UID: uid }));
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, new RegExp(`not counted .*${job}-stray`));
        const summary = summaryOf(run);
        assert.equal(summary.stage, "verification-sharing");
        const evidence = toSharingPods(summary);
        assert.equal(evidence.pods.length, 3);
        for (const p of evidence.pods) {
            assert.match(p.name, new RegExp(`^${job}-[a-z0-9]{5}$`));
            assert.equal(p.phase, "Succeeded");
            assert.equal(p.node, node);
            assert.match(String(p.startedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            assert.ok(String(p.finishedAt) > String(p.startedAt), `${p.startedAt} .. ${p.finishedAt}`);
            assert.equal(p.unschedulable, null);
            assert.equal(p.log, LOG, "the whole log, final newline kept");
        }
        assert.deepEqual(evidence.failedScheduling, []);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: 3, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, true, verdict.reasons.join("\n"));
        assert.equal(verdict.concurrentPods, 3);
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
    });

    it("three pods on two shares: the third is Pending with the scheduler's reason, and once it ran its FailedScheduling event still counts", async (t) => {
        const cp = shared.get(t);
        if (!cp) return;
        useRealKubectl(host, cp);
        const { ns, job, node } = await sharingJob(cp, 2, 3);
        // Two run (kwok keeps them running 6 s), the third waits for a share.
        await cp.kubectlOk(["-n", ns, "wait", "--for=jsonpath={.status.active}=3", `job/${job}`, "--timeout=60s"], { timeoutMs: 70_000 });
        const pendingName = async () => (await cp.kubectlOk(["-n", ns, "get", "pods", "--field-selector=spec.nodeName=", "-o", "name"])).trim().replace("pod/", "");
        let pending = "";
        for (let i = 0; i < 100 && !pending; i++) {
            pending = await pendingName();
            if (!pending) await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(pending, "one pod is not scheduled");
        await cp.kubectlOk(["-n", ns, "wait", "--for=jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}=Unschedulable", `pod/${pending}`, "--timeout=60s"], { timeoutMs: 70_000 });
        const run = await host.runScript("verification-sharing.sh", env(cp.kubeconfig, ns, job));
        assert.equal(run.code, 0, run.stderr);
        const evidence = toSharingPods(summaryOf(run));
        const p = evidence.pods.find((x) => x.name === pending);
        assert.ok(p, run.stdout);
        assert.deepEqual({ ...p, unschedulable: undefined }, { name: pending, phase: "Pending", node: null, startedAt: null, finishedAt: null, unschedulable: undefined, log: "" });
        assert.match(String(p.unschedulable), /^0\/\d+ nodes are available: .*1 Insufficient nvidia\.com\/gpu/);
        assert.ok(evidence.failedScheduling.some((f) => f.pod === pending && /Insufficient nvidia\.com\/gpu/.test(f.message)), JSON.stringify(evidence.failedScheduling));
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: 3, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, false);
        assert.match(verdict.reasons.join("\n"), /Insufficient nvidia\.com\/gpu/);

        // Once a share is free the third pod runs; the scheduler's earlier verdict is still in its events.
        await cp.kubectlOk(["-n", ns, "wait", "--for=condition=Complete", `job/${job}`, "--timeout=120s"], { timeoutMs: 130_000 });
        const after = toSharingPods(summaryOf(await host.runScript("verification-sharing.sh", env(cp.kubeconfig, ns, job))));
        const ran = after.pods.find((x) => x.name === pending);
        assert.equal(ran?.phase, "Succeeded");
        assert.equal(ran?.node, node);
        assert.equal(ran?.unschedulable, null);
        assert.ok(after.failedScheduling.some((f) => f.pod === pending), "it waited earlier");
    });

    it("no Job, another Job of the name, no pods: errors that say what to do", async (t) => {
        const cp = shared.get(t);
        if (!cp) return;
        useRealKubectl(host, cp);
        const gone = await host.runScript("verification-sharing.sh", env(cp.kubeconfig, "default", "gpu-verify-0123456789"));
        assert.equal(gone.code, 1);
        assert.match(gone.stderr, /ERROR: Job default\/gpu-verify-0123456789 does not exist[\s\S]*pulumi up --refresh/);

        // A suspended Job has no pods; only the job-name label of an unowned pod points at it.
        const ns = shared.unique("gpu-minikube-verification");
        const manifest = buildVerificationJob({ image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 300, runId: ns }, ns);
        (manifest.spec as unknown as Record<string, unknown>).suspend = true;
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        await cp.apply(manifest);
        const job = manifest.metadata.name;
        await strayPod(cp, ns, job);
        const none = await host.runScript("verification-sharing.sh", env(cp.kubeconfig, ns, job));
        assert.equal(none.code, 1);
        assert.match(none.stderr, new RegExp(`ERROR: Job ${ns}/${job} has no pods`));

        const replaced = await host.runScript("verification-sharing.sh", env(cp.kubeconfig, ns, job, { GM_JOB_UID: "00000000-0000-0000-0000-000000000000" }));
        assert.equal(replaced.code, 1);
        assert.match(replaced.stderr, /is not the one Pulumi created[\s\S]*pulumi up --refresh/);
    });

    for (const [key, value] of [["GM_NAMESPACE", "a;b"], ["GM_JOB_NAME", "$(id)"], ["GM_TIMEOUT_SECONDS", "x"], ["GM_JOB_UID", "x' -o name"]]) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            host.writeStandin("kubectl", "exit 0");
            const run = await host.runScript("verification-sharing.sh", env("apiVersion: v1\nkind: Config\n", "gpu-minikube-verification-1a2b3c4d", "gpu-verify-0123456789", { [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});
