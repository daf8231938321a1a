// Existing cluster, devicePlugin.mode "manifest", on a real control plane (real API server, scheduler,
// DaemonSet controller, real kubectl) with kwok nodes: the plugin objects the program builds are
// applied server-side (as the Pulumi Kubernetes provider applies them), the DaemonSet's pods land on
// the GPU nodes only, and scripts/existing-device-plugin-wait.sh waits for the placed nodes only.
// kwok runs no plugin: each test patches node status to advertise GPUs as the kubelet does once
// NVIDIA's plugin registers them.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { placeOnNodes, pluginPlacement, selectorString } from "../../components/existingDevicePlugin";
import { buildPluginConfigMap, buildPluginDaemonSet, DEFAULT_SHARING, MANAGED_PLUGIN_NAME } from "../../components/devicePluginManifest";
import { parseSummary } from "../../components/hostCommand";
import { ControlPlaneLike, loadControlPlaneHarness } from "../harness/controlPlaneLoader";
import { KubectlSetup, runScript } from "../harness/existingScripts";
import { skipOrFailUnderCi } from "../harness/realTools";

let missing: string | undefined;
// Before the plugin runs, no node advertises nvidia.com/gpu (the harness needs some extended resource).
const NOTHING_YET = { gpus: 0, resourceName: "example.com/not-a-gpu" };
const PLACEMENT = pluginPlacement({});

describe("existing cluster, manifest mode: NVIDIA's plugin on the GPU nodes only, and the wait", () => {
    let cp: ControlPlaneLike | undefined;
    let k: KubectlSetup;
    const wait = (env: Record<string, string>) => runScript("existing-device-plugin-wait.sh", {
        GM_NODE_SELECTOR: selectorString(PLACEMENT), GM_DAEMONSET: MANAGED_PLUGIN_NAME, GM_RESOURCE_NAME: "nvidia.com/gpu",
        GM_SHARES_PER_GPU: "1", GM_TIMEOUT_SECONDS: "60", GM_POLL_SECONDS: "0.5", ...env,
    }, k, undefined, 90_000);

    before(async () => {
        const harness = await loadControlPlaneHarness();
        if (typeof harness === "string") {
            missing = harness;
            return;
        }
        cp = await harness.startControlPlane({});
        k = { kubectlPath: cp.kubectlPath, kubeconfig: cp.kubeconfig, cacheDir: fs.mkdtempSync(path.join(os.tmpdir(), "gm-kcache-")) };
        await cp.addGpuNode("gpu-1", { ...NOTHING_YET, labels: { "nvidia.com/gpu.present": "true" } });
        // GPU Feature Discovery's count label: the wait then expects exactly 2 (x shares).
        await cp.addGpuNode("gpu-2", { ...NOTHING_YET, labels: { "nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": "2" },
            taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] });
        await cp.addGpuNode("cpu-1", NOTHING_YET);
        const spec = { image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0", sharing: DEFAULT_SHARING };
        await cp.apply(buildPluginConfigMap(spec), placeOnNodes(buildPluginDaemonSet(spec), PLACEMENT));
    });
    after(async () => {
        await cp?.stop();
        if (k?.cacheDir) fs.rmSync(k.cacheDir, { recursive: true, force: true });
    });

    it("the DaemonSet's pods land on the labelled GPU nodes only (the tainted one too), never on the CPU node", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const tpl = 'jsonpath={range .items[*]}{.spec.nodeName}{"\\n"}{end}';
        let placed: string[] = [];
        for (let i = 0; i < 150; i++) {
            placed = (await cp.kubectlOk(["-n", "kube-system", "get", "pods", "-l", `name=${MANAGED_PLUGIN_NAME}`, "-o", tpl]))
                .split("\n").filter((n) => n !== "").sort();
            if (placed.length >= 2) break;
            await new Promise((r) => setTimeout(r, 200));
        }
        assert.deepEqual(placed, ["gpu-1", "gpu-2"]);
        const desired = await cp.kubectlOk(["-n", "kube-system", "get", "daemonset", MANAGED_PLUGIN_NAME, "-o", "jsonpath={.status.desiredNumberScheduled}"]);
        assert.equal(desired, "2");
    });

    it("no node advertises yet: the wait fails within its deadline naming each placed node (not the CPU node) and its plugin pod", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const run = await wait({ GM_TIMEOUT_SECONDS: "5" });
        assert.equal(run.code, 1, run.stderr);
        assert.ok(run.ms < 5_000 + 4_000, `took ${run.ms} ms`);
        assert.match(run.stderr, /ERROR: not every node matching nvidia\.com\/gpu\.present=true advertised nvidia\.com\/gpu within 5s \(found: gpu-1 \(none, expected a non-zero multiple of 1\), gpu-2 \(none, expected 2\); daemonset/);
        assert.match(run.stderr, /\| gpu-1: none; expected a non-zero multiple of 1; gpu-minikube-nvidia-device-plugin-\S+: (Pending|Running)/);
        assert.match(run.stderr, /poll 1 \(\d+s of 5s\): .*: 0\/2 node\(s\) advertise it \(gpu-1: none, gpu-2: none\)/);
        assert.doesNotMatch(run.stderr, /cpu-1/);
        assert.equal(run.stdout, "", "no summary line on failure");
    });

    it("one node advertises fewer than GFD's count: the wait names that node only", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu", 1);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 1);
        const run = await wait({ GM_TIMEOUT_SECONDS: "4" });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /\(found: gpu-2 \(1, expected 2\); daemonset/);
    });

    it("every placed node advertises its GPUs and the rollout is done: the summary maps those nodes only", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 2);
        const run = await wait({});
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-device-plugin-wait.sh");
        assert.deepEqual(s, { stage: "existing-device-plugin", resourceName: "nvidia.com/gpu", sharesPerGpu: 1, gpuAllocatable: { "gpu-1": 1, "gpu-2": 2 } });
        assert.match(run.stderr, /daemonset gpu-minikube-nvidia-device-plugin: 2 of 2 pods updated, 2 available/);
    });

    it("time-slicing: the renamed resource must be shares x GPUs (a multiple of the shares without GFD's count)", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu.shared", 6);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu.shared", 8);
        const bad = await wait({ GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_SHARES_PER_GPU: "4", GM_TIMEOUT_SECONDS: "4" });
        assert.equal(bad.code, 1, bad.stderr);
        assert.match(bad.stderr, /\(found: gpu-1 \(6, expected a non-zero multiple of 4\); daemonset/);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu.shared", 4);
        const ok = await wait({ GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_SHARES_PER_GPU: "4" });
        assert.equal(ok.code, 0, ok.stderr);
        assert.deepEqual(parseSummary(ok.stdout, "existing-device-plugin-wait.sh").gpuAllocatable, { "gpu-1": 4, "gpu-2": 8 });
    });

    it("no node carries the placement labels: fails at once with the labelling fix", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const run = await wait({ GM_NODE_SELECTOR: "pool=nope" });
        assert.equal(run.code, 1);
        assert.ok(run.ms < 20_000, `took ${run.ms} ms`);
        assert.match(run.stderr, /ERROR: no node matches the device plugin's node selector pool=nope \(found: 0 nodes with those labels\)\. Fix: label your GPU nodes \('kubectl label node <name> pool=nope'\)/);
    });

    it("a placed node that is not Ready is named as such next to its missing plugin pod", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        // No kwok annotation: nothing runs this node, so it never reports a Ready condition.
        await cp.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "gpu-dead", labels: { "kubernetes.io/hostname": "gpu-dead", pool: "dead" } } });
        const run = await wait({ GM_NODE_SELECTOR: "pool=dead", GM_TIMEOUT_SECONDS: "3" });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /\| gpu-dead: none; expected a non-zero multiple of 1; no plugin pod on this node; node not Ready \(no Ready condition\)/);
        assert.match(run.stderr, /\(found: gpu-dead \(none, expected a non-zero multiple of 1; node not Ready \(no Ready condition\)\); daemonset/);
    });
});
