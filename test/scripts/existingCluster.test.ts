// Existing-cluster mode against a real control plane (real API server, scheduler, Job controller,
// real kubectl) with kwok nodes: scripts/existing-cluster-observe.sh and scripts/verify-gpu-nodes.sh
// run as the program runs them, and their summaries become per-node verdicts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseSummary } from "../../components/hostCommand";
import { ControlPlane, controlPlaneMissing, startControlPlane } from "../harness/controlPlane";
import { KubectlSetup, observe, runScript, verify } from "../harness/existingScripts";
import { skipOrFailUnderCi } from "../harness/realTools";

const H200_LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "h200b-verification-command.txt"), "utf8");
const missing = controlPlaneMissing();

describe("existing cluster: per-node verification on a real control plane with kwok nodes", () => {
    let cp: ControlPlane | undefined;
    let k: KubectlSetup;
    before(async () => {
        if (missing) return;
        cp = await startControlPlane({ unpullableImages: ["nvidia/cuda:no-such-tag"] });
        k = { kubectlPath: cp.kubectlPath, kubeconfig: cp.kubeconfig, cacheDir: fs.mkdtempSync(path.join(os.tmpdir(), "gm-kcache-")) };
        await cp.addGpuNode("gpu-1", { gpus: 1, labels: { "nvidia.com/gpu.product": "NVIDIA-H200", "nvidia.com/cuda.driver-version.full": "580.159.04" } });
        await cp.addGpuNode("gpu-2", { gpus: 2 });
        await cp.addGpuNode("gpu-8", { gpus: 8, taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] });
        // A CPU-only node: it advertises no GPU resource (the harness needs some extended resource name).
        await cp.addGpuNode("cpu-1", { gpus: 0, resourceName: "example.com/not-a-gpu" });
        await cp.setPodLogs("h200", {}, H200_LOG);
    });
    after(async () => {
        await cp?.stop();
        if (k?.cacheDir) fs.rmSync(k.cacheDir, { recursive: true, force: true });
    });

    const namespace = async (name: string) => {
        await cp!.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
        return name;
    };

    it("three GPU nodes (1, 2 and 8 GPUs) and a CPU-only node → three passing verdicts, each pod on its own node", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const seen = await observe(k);
        assert.deepEqual(seen.gpuNodes, ["gpu-1", "gpu-2", "gpu-8"]);
        assert.match(seen.clusterUid, /^[0-9a-f-]{36}$/);
        const ns = await namespace("gm-existing-ok");
        const { result } = await verify(k, { namespace: ns, nodes: seen.gpuNodes });
        assert.deepEqual(Object.keys(result.nodes), ["gpu-1", "gpu-2", "gpu-8"]);
        for (const [node, v] of Object.entries(result.nodes)) {
            assert.equal(v.passed, true, `${node}: ${v.reasons.join("; ")}`);
            assert.equal(v.driverVersion, "580.159.04");
            assert.match(v.verifiedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        }
        assert.equal(result.passed, true, result.reasons.join("; "));
        // The scheduler put each node's pod on that node (required affinity), the 8-GPU node's despite its taint.
        const pods = await cp.kubectlOk(["-n", ns, "get", "pods", "-o",
            'jsonpath={range .items[*]}{.metadata.annotations.gpu-minikube/node}={.spec.nodeName}{"\\n"}{end}']);
        assert.deepEqual(pods.trim().split("\n").sort(), ["gpu-1=gpu-1", "gpu-2=gpu-2", "gpu-8=gpu-8"]);
    });

    it("a failing verdict although every Job completed: the gate marks the run incomplete, so the next up's probe asks for a new run", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        // Our namespace as GpuNodeVerification creates it (the probe looks at ours only).
        const ns = "gm-existing-gate";
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { "app.kubernetes.io/managed-by": "gpu-minikube" } } });
        const { summary } = await verify(k, { namespace: ns, nodes: ["gpu-1"] });
        const run = String(summary.run);
        const incomplete = async () => String(parseSummary((await observe(k)).run.stdout, "existing-cluster-observe.sh").incompleteRuns).split(",");
        assert.ok(!(await incomplete()).includes(`${run}-incomplete`), "every Job completed: the run itself is complete");
        const gate = await runScript("verification-gate.sh", {
            GM_PASSED: "false", GM_REASONS: "node gpu-1: the pod saw 1 GPU(s); verification.gpus requires at least 2",
            GM_JOB: `${ns}/* (one per GPU node)`, GM_VERIFIED_AT: String(summary.finishedAt), GM_NAMESPACE: ns, GM_RUN: run,
        }, k);
        assert.equal(gate.code, 1);
        assert.match(gate.stderr, /run 'pulumi up' again \(it verifies every GPU node again\)/);
        assert.ok((await incomplete()).includes(`${run}-incomplete`), "the next up's token changes, so it runs a new verification");
        // A gate that cannot reach the API server still fails with the verdict, and says how to re-verify.
        const unreachable = await runScript("verification-gate.sh", {
            GM_PASSED: "false", GM_REASONS: "node gpu-1: x", GM_JOB: `${ns}/*`, GM_VERIFIED_AT: "", GM_NAMESPACE: ns, GM_RUN: run,
            GM_KUBECONFIG: k.kubeconfig.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:1"),
        }, k);
        assert.equal(unreachable.code, 1);
        assert.match(unreachable.stderr, /WARNING: could not mark run r[0-9a-f]+ incomplete on namespace gm-existing-gate: /);
        assert.match(unreachable.stderr, /ERROR: the GPU verification did not pass .*change gpu-minikube:verification\.runId/);
    });

    it("a GPU node patched to 0 allocatable fails with its reason, the others pass, top-level passed is false", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const before = await observe(k);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 0);
        const seen = await observe(k);
        assert.deepEqual(seen.gpuNodes, ["gpu-1", "gpu-2", "gpu-8"], "a GPU node at 0 is still a GPU node");
        assert.notEqual(seen.token, before.token, "the change re-runs the verification on the next up");
        const ns = await namespace("gm-existing-zero");
        const { result } = await verify(k, { namespace: ns, nodes: seen.gpuNodes });
        assert.equal(result.nodes["gpu-1"].passed, true, result.nodes["gpu-1"].reasons.join("; "));
        assert.equal(result.nodes["gpu-8"].passed, true, result.nodes["gpu-8"].reasons.join("; "));
        assert.equal(result.nodes["gpu-2"].passed, false);
        assert.match(result.nodes["gpu-2"].reasons[0], /advertises 0 allocatable nvidia\.com\/gpu \(capacity 0\)/);
        assert.equal(result.passed, false);
        assert.deepEqual(result.reasons.map((r) => r.split(":")[0]), ["node gpu-2"]);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 2);
    });

    it("a pod the scheduler cannot place gets the scheduler's message within the stuck time, and its Job is deleted", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.addGpuNode("gpu-dedicated", { gpus: 1, taints: [{ key: "team", value: "ml", effect: "NoSchedule" }] });
        const ns = await namespace("gm-existing-stuck");
        const started = Date.now();
        const { result } = await verify(k, { namespace: ns, nodes: ["gpu-1", "gpu-dedicated"], stuckSeconds: 4 });
        assert.ok(Date.now() - started < 60_000, "did not wait for the deadline");
        assert.equal(result.nodes["gpu-1"].passed, true);
        const reason = result.nodes["gpu-dedicated"].reasons[0];
        // The real kube-scheduler v1.37.2 counts the nodes but does not name the taint:
        // "0/5 nodes are available: 1 node(s) had untolerated taint(s), 4 node(s) didn't satisfy plugin(s) [NodeAffinity]".
        assert.match(reason, /^the verification pod could not start: pod \S+ Unschedulable: 0\/\d+ nodes are available: 1 node\(s\) had untolerated taint\(s\)/);
        const jobs = await cp.kubectlOk(["-n", ns, "get", "jobs", "-o", "name"]);
        assert.doesNotMatch(jobs, /gpu-verify-r[0-9a-f]+-1\b/, "the stuck Job was deleted");
    });

    it("a node removed since the run was planned is reported absent; nodeSelector narrows the nodes", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = await namespace("gm-existing-absent");
        const { result } = await verify(k, { namespace: ns, nodes: ["gpu-1", "gone-node"] });
        assert.match(result.nodes["gone-node"].reasons[0], /no longer in the cluster/);
        assert.equal(result.nodes["gpu-1"].passed, true);
        const narrowed = await observe(k, "nvidia.com/gpu.product=NVIDIA-H200");
        assert.deepEqual(narrowed.gpuNodes, ["gpu-1"]);
    });

    it("an unreachable API server fails the probe with kubectl's own error, not a klog line", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const bad = { ...k, kubeconfig: k.kubeconfig.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:1") };
        await assert.rejects(observe(bad), /cannot reach the cluster's API server \(found: [^E].*(refused|connect)/);
    });
});
