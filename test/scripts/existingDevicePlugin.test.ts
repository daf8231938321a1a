// Existing cluster, devicePlugin.mode "manifest", on a real control plane (real API server, scheduler,
// DaemonSet controller, real kubectl) with kwok nodes: the plugin objects the program builds are
// applied server-side (as the Pulumi Kubernetes provider applies them), the DaemonSet's pods land on
// the GPU nodes only, and scripts/existing-device-plugin-wait.sh waits for the placed nodes only. A
// placed node still short at the deadline is a per-node problem: the wait succeeds naming it, and the
// per-node verification (scripts/verify-gpu-nodes.sh) fails that node alone.
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
import { ControlPlane, controlPlaneMissing, startControlPlane } from "../harness/controlPlane";
import { KubectlSetup, observe, runScript, verify } from "../harness/existingScripts";
import { skipOrFailUnderCi } from "../harness/realTools";

const H200_LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "h200b-verification-command.txt"), "utf8");
const missing = controlPlaneMissing();
// Before the plugin runs, no node advertises nvidia.com/gpu (the harness needs some extended resource).
const NOTHING_YET = { gpus: 0, resourceName: "example.com/not-a-gpu" };
const PLACEMENT = pluginPlacement({});

describe("existing cluster, manifest mode: NVIDIA's plugin on the GPU nodes only, and the wait", () => {
    let cp: ControlPlane | undefined;
    let k: KubectlSetup;
    const wait = (env: Record<string, string>) => runScript("existing-device-plugin-wait.sh", {
        GM_NODE_SELECTOR: selectorString(PLACEMENT), GM_DAEMONSET: MANAGED_PLUGIN_NAME, GM_RESOURCE_NAME: "nvidia.com/gpu",
        GM_SHARES_PER_GPU: "1", GM_TIMEOUT_SECONDS: "60", GM_POLL_SECONDS: "0.5", ...env,
    }, k, undefined, 90_000);

    before(async () => {
        if (missing) return;
        cp = await startControlPlane({});
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

    it("no node advertises yet: at its deadline the wait succeeds naming each placed node (not the CPU node) short, with its plugin pod", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const run = await wait({ GM_TIMEOUT_SECONDS: "5" });
        assert.equal(run.code, 0, run.stderr);
        assert.ok(run.ms < 5_000 + 4_000, `took ${run.ms} ms`);
        const s = parseSummary(run.stdout, "existing-device-plugin-wait.sh");
        assert.deepEqual(s.gpuAllocatable, { "gpu-1": 0, "gpu-2": 0 });
        const short = s.short as Record<string, string>;
        assert.deepEqual(Object.keys(short).sort(), ["gpu-1", "gpu-2"]);
        assert.match(short["gpu-1"], /^advertises no nvidia\.com\/gpu, expected a non-zero multiple of 1, after 5s; plugin pod gpu-minikube-nvidia-device-plugin-\S+: (Pending|Running)/);
        assert.match(short["gpu-2"], /^advertises no nvidia\.com\/gpu, expected 2, after 5s; plugin pod /);
        assert.match(run.stderr, /2 of 2 node\(s\) matching nvidia\.com\/gpu\.present=true did not advertise nvidia\.com\/gpu within 5s: gpu-1 \(advertises no/);
        assert.match(run.stderr, /\| gpu-1: none; expected a non-zero multiple of 1; plugin pod gpu-minikube-nvidia-device-plugin-\S+: (Pending|Running)/);
        assert.match(run.stderr, /poll 1 \(\d+s of 5s\): .*: 0\/2 node\(s\) advertise it \(gpu-1: none, gpu-2: none\)/);
        assert.doesNotMatch(run.stderr + run.stdout, /cpu-1/);
    });

    it("one node advertises fewer than GFD's count: the wait names that node only", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu", 1);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 1);
        const run = await wait({ GM_TIMEOUT_SECONDS: "4" });
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-device-plugin-wait.sh");
        assert.deepEqual(s.gpuAllocatable, { "gpu-1": 1, "gpu-2": 1 });
        assert.deepEqual(Object.keys(s.short as object), ["gpu-2"]);
        assert.match((s.short as Record<string, string>)["gpu-2"], /^advertises 1 nvidia\.com\/gpu, expected 2, after 4s; plugin pod /);
    });

    it("every placed node advertises its GPUs and the rollout is done: the summary maps those nodes only", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu", 2);
        const run = await wait({});
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-device-plugin-wait.sh");
        assert.deepEqual(s, { stage: "existing-device-plugin", resourceName: "nvidia.com/gpu", sharesPerGpu: 1, gpuAllocatable: { "gpu-1": 1, "gpu-2": 2 }, short: {} });
        assert.match(run.stderr, /daemonset gpu-minikube-nvidia-device-plugin: 2 of 2 pods updated, 2 available/);
    });

    it("time-slicing: the renamed resource must be shares x GPUs (a multiple of the shares without GFD's count)", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu.shared", 6);
        await cp.setAllocatable("gpu-2", "nvidia.com/gpu.shared", 8);
        const bad = await wait({ GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_SHARES_PER_GPU: "4", GM_TIMEOUT_SECONDS: "4" });
        assert.equal(bad.code, 0, bad.stderr);
        const short = parseSummary(bad.stdout, "existing-device-plugin-wait.sh").short as Record<string, string>;
        assert.deepEqual(Object.keys(short), ["gpu-1"]);
        assert.match(short["gpu-1"], /^advertises 6 nvidia\.com\/gpu\.shared, expected a non-zero multiple of 4, after 4s; /);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu.shared", 4);
        const ok = await wait({ GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_SHARES_PER_GPU: "4" });
        assert.equal(ok.code, 0, ok.stderr);
        assert.deepEqual(parseSummary(ok.stdout, "existing-device-plugin-wait.sh").gpuAllocatable, { "gpu-1": 4, "gpu-2": 8 });
        assert.deepEqual(parseSummary(ok.stdout, "existing-device-plugin-wait.sh").short, {});
    });

    it("no node carries the placement labels: fails at once with the labelling fix", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const run = await wait({ GM_NODE_SELECTOR: "pool=nope" });
        assert.equal(run.code, 1);
        assert.ok(run.ms < 20_000, `took ${run.ms} ms`);
        assert.match(run.stderr, /ERROR: no node matches the device plugin's node selector pool=nope \(found: 0 nodes with those labels\)\. Fix: label your GPU nodes \('kubectl label node <name> pool=nope'\)/);
    });

    it("the API server does not answer: still a failure of the step (nothing can be verified), with kubectl's error", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const bad = { ...k, kubeconfig: k.kubeconfig.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:1") };
        const run = await runScript("existing-device-plugin-wait.sh", {
            GM_NODE_SELECTOR: selectorString(PLACEMENT), GM_DAEMONSET: MANAGED_PLUGIN_NAME, GM_RESOURCE_NAME: "nvidia.com/gpu",
            GM_SHARES_PER_GPU: "1", GM_TIMEOUT_SECONDS: "2", GM_POLL_SECONDS: "0.5",
        }, bad, undefined, 90_000);
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /ERROR: the API server did not answer the device plugin wait's last poll \(deadline 2s\) \(found: [^E].*(refused|connect)/);
        assert.equal(run.stdout, "", "no summary line on failure");
    });

    it("the DaemonSet cannot be read: still a failure of the step, even though every node advertises", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const run = await wait({ GM_DAEMONSET: "no-such-plugin", GM_TIMEOUT_SECONDS: "3" });
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /ERROR: the device plugin DaemonSet kube-system\/no-such-plugin cannot be read \(found: \(not readable: .*not ?found/i);
        assert.equal(run.stdout, "", "no summary line on failure");
    });

    it("a placed node that is not Ready is named as such next to its missing plugin pod", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        // No kwok annotation: nothing runs this node, so it never reports a Ready condition.
        await cp.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "gpu-dead", labels: { "kubernetes.io/hostname": "gpu-dead", pool: "dead" } } });
        const run = await wait({ GM_NODE_SELECTOR: "pool=dead", GM_TIMEOUT_SECONDS: "3" });
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stderr, /\| gpu-dead: none; expected a non-zero multiple of 1; node not Ready \(no Ready condition\); no plugin pod on this node/);
        assert.deepEqual(parseSummary(run.stdout, "existing-device-plugin-wait.sh").short, {
            "gpu-dead": "node not Ready (no Ready condition); advertises no nvidia.com/gpu, expected a non-zero multiple of 1, after 3s; no plugin pod on this node",
        });
    });

    it("one placed node advertises, one is NotReady: the wait succeeds naming the short node; the verification passes the one and fails the other with its reasons", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        await cp.setAllocatable("gpu-1", "nvidia.com/gpu", 1);
        await cp.kubectlOk(["label", "node", "gpu-1", "pool=mixed", "--overwrite"]);
        // Carries the plugin's placement label too, but nothing runs it: no Ready condition ever.
        await cp.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "gpu-notready",
            labels: { "kubernetes.io/hostname": "gpu-notready", "nvidia.com/gpu.present": "true", pool: "mixed" } } });
        const placement = pluginPlacement({ pool: "mixed" });
        const run = await wait({ GM_NODE_SELECTOR: selectorString(placement), GM_TIMEOUT_SECONDS: "4" });
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-device-plugin-wait.sh");
        assert.deepEqual(s.gpuAllocatable, { "gpu-1": 1, "gpu-notready": 0 });
        const short = s.short as Record<string, string>;
        assert.deepEqual(Object.keys(short), ["gpu-notready"]);
        assert.match(short["gpu-notready"], /^node not Ready \(no Ready condition\); advertises no nvidia\.com\/gpu, expected a non-zero multiple of 1, after 4s; (no plugin pod on this node|plugin pod \S+: Pending)/);
        assert.match(run.stderr, /1 of 2 node\(s\) matching pool=mixed did not advertise nvidia\.com\/gpu within 4s: gpu-notready \(node not Ready/);

        // As the program runs it: the placed nodes are the GPU nodes, the short map becomes node problems.
        const seen = await observe(k, selectorString(placement));
        assert.deepEqual(seen.gpuNodes, ["gpu-1", "gpu-notready"]);
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "gm-plugin-mixed" } });
        await cp.setPodLogs("h200-mixed", { namespaces: ["gm-plugin-mixed"] }, H200_LOG);
        const { result } = await verify(k, { namespace: "gm-plugin-mixed", nodes: seen.gpuNodes, nodeProblems: short });
        assert.deepEqual(Object.keys(result.nodes), ["gpu-1", "gpu-notready"]);
        assert.equal(result.nodes["gpu-1"].passed, true, result.nodes["gpu-1"].reasons.join("; "));
        assert.equal(result.nodes["gpu-1"].driverVersion, "580.159.04");
        const dead = result.nodes["gpu-notready"];
        assert.equal(dead.passed, false);
        assert.match(dead.reasons[0], /^the device plugin did not bring this node's GPUs within devicePlugin\.timeoutSeconds: node not Ready \(no Ready condition\); advertises no nvidia\.com\/gpu/);
        assert.match(dead.reasons[1], /^node is not Ready \(Ready=absent\)/);
        assert.equal(result.passed, false);
        assert.deepEqual([...new Set(result.reasons.map((r) => r.split(":")[0]))], ["node gpu-notready"]);
    });
});
