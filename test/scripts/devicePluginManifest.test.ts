// Manifest mode's host steps with the real kubectl against a real control plane (kwok nodes):
// device-plugin-addon-disable.sh (minikube's addon off, its pods gone) and device-plugin.sh in mode
// "manifest" (no addon step; every node advertises shares x GPUs of the right resource), and the way
// back: mode "addon" removes manifest mode's plugin DaemonSet (the real garbage collector removes its
// pods) before it enables the addon, so two plugins never serve one node. The minikube stand-in keeps
// the addon's state (the real minikube cannot create a node here).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { MANAGED_PLUGIN_NAME } from "../../components/devicePluginManifest";
import { ControlPlane } from "../harness/controlPlane";
import { deleteObjects, sharedControlPlane, useRealKubectl } from "../harness/sharedControlPlane";
import { SimHost, minikubeProfileState, summaryOf, writeMinikubeProfile } from "../harness/simHost";

const PROFILE = "gpu-minikube";

function env(host: SimHost, kubeconfig: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE,
        GM_KUBECONFIG: kubeconfig,
        // Generous: a passing run ends as soon as the cluster is ready; a loaded machine is slow.
        GM_TIMEOUT_SECONDS: "60",
        GM_POLL_SECONDS: "0.5",
        GM_PROC_DIR: path.join(host.root, "proc"),
        ...extra,
    };
}

function markerFile(host: SimHost): string {
    return path.join(host.home, ".gpu-minikube", "profiles", PROFILE, "device-plugin-enabled-by-us");
}

// Pod stage delays are not under test here: kwok runs plugin pods within a fraction of a second.
const shared = sharedControlPlane({ podStageDelay: { minMs: 100, maxMs: 300 } });
let host: SimHost;
/** This test's nodes, kube-system pods and DaemonSets (deleted after it: the scripts look at EVERY node and plugin pod). */
let nodes: string[] = [];
let pods: string[] = [];
let daemonsets: string[] = [];
beforeEach(() => {
    host = SimHost.create({ standins: [] });
    const dir = path.join(host.root, "proc", "sys", "net", "core");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "bpf_jit_harden"), "0\n");
    fs.writeFileSync(path.join(host.root, "proc", "version"), "Linux version 6.8.0-49-generic\n");
    nodes = [];
    pods = [];
    daemonsets = [];
});
afterEach(async () => {
    host.cleanup();
    const cp = shared.current();
    if (!cp) return;
    await deleteObjects(cp, "daemonset", daemonsets, "kube-system", true);
    await deleteObjects(cp, "pod", pods, "kube-system", true);
    await deleteObjects(cp, "node", nodes, undefined, true);
});

function setup(t: { skip: (m?: string) => void }): ControlPlane | undefined {
    const cp = shared.get(t);
    if (cp) useRealKubectl(host, cp);
    return cp;
}

/** A node of this test advertising COUNT of RESOURCE. */
async function addNode(cp: ControlPlane, resource: string, count: number): Promise<string> {
    const name = shared.unique("gpu-node");
    nodes.push(name);
    await cp.addGpuNode(name, { gpus: count, resourceName: resource, labels: { "gm-test/pool": name } });
    return name;
}

/** A plugin pod in kube-system with LABELS on NODE, Running (kwok). */
async function addPod(cp: ControlPlane, prefix: string, labels: Record<string, string>, node: string): Promise<string> {
    const name = shared.unique(prefix);
    pods.push(name);
    await cp.apply({
        apiVersion: "v1", kind: "Pod", metadata: { name, namespace: "kube-system", labels },
        // kwok finishes a deletion at a random moment up to the end of the grace period (default 30 s).
        spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: "nvidia-device-plugin-ctr", image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0" }] },
    });
    await cp.kubectlOk(["-n", "kube-system", "wait", "--for=jsonpath={.status.phase}=Running", `pod/${name}`, "--timeout=60s"], { timeoutMs: 70_000 });
    return name;
}

/** Waits until the journal holds at least N calls of `kubectl ...WORDS`. */
async function callsSeen(n: number, ...words: string[]): Promise<void> {
    const until = Date.now() + 60_000;
    while (host.calls("kubectl", ...words).length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.ok(host.calls("kubectl", ...words).length >= n, `kubectl ${words.join(" ")} was called ${n} times`);
}

describe("device-plugin-addon-disable.sh", () => {
    it("disables the addon minikube --gpus all enabled, waits until its plugin pods are gone; a second run changes nothing", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        fs.mkdirSync(path.dirname(markerFile(host)), { recursive: true });
        fs.writeFileSync(markerFile(host), "");
        const node = await addNode(cp, "nvidia.com/gpu", 1);
        const pod = await addPod(cp, "nvidia-device-plugin-daemonset", { name: "nvidia-device-plugin-ds" }, node);
        const running = host.runScript("device-plugin-addon-disable.sh", env(host, cp.kubeconfig));
        // minikube deletes the addon's objects (`kubectl delete -f`); the pod goes a little later.
        await callsSeen(2, "get", "pods");
        await cp.kubectlOk(["-n", "kube-system", "delete", "pod", pod, "--wait=false"]);
        const run = await running;
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-addon-disable", addonWasEnabled: true, disabled: true });
        assert.deepEqual(host.calls("minikube", "addons", "disable").map((e) => e.args), [["addons", "disable", "nvidia-device-plugin", "-p", PROFILE]]);
        assert.ok(!minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
        assert.match(run.stderr, new RegExp(`waiting for the addon's plugin pods to go: still there: pod/${pod}`));
        assert.ok(!fs.existsSync(markerFile(host)), "the addon step's 'enabled by us' note is no longer true");

        host.resetJournal();
        const again = await host.runScript("device-plugin-addon-disable.sh", env(host, cp.kubeconfig));
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(summaryOf(again), { stage: "device-plugin-addon-disable", addonWasEnabled: false, disabled: false });
        assert.equal(host.calls("minikube", "addons", "disable").length, 0);
    });

    it("fails by the deadline, naming the pods, when the addon's plugin pods stay", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        const node = await addNode(cp, "nvidia.com/gpu", 1);
        const pod = await addPod(cp, "nvidia-device-plugin-daemonset", { name: "nvidia-device-plugin-ds" }, node);
        const run = await host.runScript("device-plugin-addon-disable.sh", env(host, cp.kubeconfig, { GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, new RegExp(`ERROR: the addon's plugin pods did not go away within 6s \\(found: still there: pod/${pod}\\)`));
        assert.equal(run.stdout, "");
    });

    it("a failing disable is an error that says how to fix it", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        host.fault("minikube", { match: "disable", exitCode: 11, stderr: "❌  Exiting due to MK_ADDON_DISABLE: disable failed" });
        const run = await host.runScript("device-plugin-addon-disable.sh", env(host, cp.kubeconfig));
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: could not disable the nvidia-device-plugin addon .*exited 11.*minikube addons disable nvidia-device-plugin -p gpu-minikube/);
    });

    for (const [key, value] of [["GM_PROFILE", "x; rm -rf /"], ["GM_TIMEOUT_SECONDS", "$(reboot)"], ["GM_POLL_SECONDS", "9"]]) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            writeMinikubeProfile(host);
            host.writeStandin("kubectl", "exit 0");
            host.resetJournal();
            const run = await host.runScript("device-plugin-addon-disable.sh", env(host, "apiVersion: v1\nkind: Config\n", { [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});

describe("device-plugin.sh, mode manifest", () => {
    it("no addon step; ready when every node advertises shares x GPUs of the renamed resource (one patched from 0 while it waits)", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host, { addons: [] });
        const a = await addNode(cp, "nvidia.com/gpu.shared", 0);
        const b = await addNode(cp, "nvidia.com/gpu.shared", 8);
        await addPod(cp, MANAGED_PLUGIN_NAME, { name: MANAGED_PLUGIN_NAME }, a);
        const running = host.runScript("device-plugin.sh", env(host, cp.kubeconfig, {
            GM_MODE: "manifest", GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_EXPECTED_PER_NODE: "8",
        }));
        await callsSeen(2, "get", "nodes");
        // The plugin restarted with the sharing config: the kubelet publishes 8 shares.
        await cp.setAllocatable(a, "nvidia.com/gpu.shared", 8);
        const run = await running;
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "manifest", enabledByUs: false, resourceName: "nvidia.com/gpu.shared", expectedPerNode: 8,
            gpuAllocatable: { [a]: 8, [b]: 8 },
        });
        assert.equal(host.calls("minikube").length, 0, "manifest mode never touches minikube's addon");
        assert.match(run.stderr, new RegExp(`waiting for nvidia\\.com/gpu\\.shared \\(8\\) in every node's allocatable: ${a}: 0 allocatable, ${b}: 8 allocatable`));
    });

    it("a node still advertising the old count is not ready; the error names the counts and the likely cause", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host, { addons: [] });
        const node = await addNode(cp, "nvidia.com/gpu", 1);
        const pod = await addPod(cp, MANAGED_PLUGIN_NAME, { name: MANAGED_PLUGIN_NAME }, node);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, {
            GM_MODE: "manifest", GM_EXPECTED_PER_NODE: "4", GM_TIMEOUT_SECONDS: "6",
        }), 60_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, new RegExp(`ERROR: not every node advertised 4 nvidia\\.com/gpu within 6s \\(found: ${node} allocatable 1; plugin pod: ${pod} on ${node}: Running`));
        assert.match(run.stderr, new RegExp(`a node advertises a different number of nvidia\\.com/gpu than expected \\(${node}: 1; expected 4 = shares per GPU x the host's GPUs\\)`));
        assert.match(run.stderr, /plugin pods \(-n kube-system -l name=gpu-minikube-nvidia-device-plugin\)/);
    });

    it("a crash-looping plugin (FAIL_ON_INIT_ERROR=true, no GPU) with no pod: says the DaemonSet scheduled none", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host, { addons: [] });
        // A node that advertises no nvidia.com/gpu at all (the harness needs some extended resource).
        await addNode(cp, "example.com/not-a-gpu", 0);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { GM_MODE: "manifest", GM_EXPECTED_PER_NODE: "1", GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /allocatable none, capacity none/);
        assert.match(run.stderr, /no plugin pod exists: the DaemonSet gpu-minikube-nvidia-device-plugin did not schedule one/);
    });

    const bad: Array<[string, string]> = [
        ["GM_MODE", "helm"], ["GM_MODE", "addon; reboot"], ["GM_RESOURCE_NAME", "nvidia.com/gpu;id"], ["GM_RESOURCE_NAME", "amd.com/gpu"],
        ["GM_EXPECTED_PER_NODE", "0"], ["GM_EXPECTED_PER_NODE", "4x"], ["GM_EXPECTED_PER_NODE", "$(id)"],
    ];
    for (const [key, value] of bad) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            writeMinikubeProfile(host);
            host.writeStandin("kubectl", "exit 0");
            host.resetJournal();
            const run = await host.runScript("device-plugin.sh", env(host, "apiVersion: v1\nkind: Config\n", { GM_MODE: "manifest", [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});

describe("switching back to mode addon", () => {
    it("removes manifest mode's plugin DaemonSet (and waits for its pods) before enabling the addon", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        // After manifest mode: the addon is disabled, our DaemonSet and its pod run.
        writeMinikubeProfile(host, { addons: ["storage-provisioner"] });
        const node = await addNode(cp, "nvidia.com/gpu", 1);
        daemonsets.push(MANAGED_PLUGIN_NAME);
        await cp.apply({
            apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: MANAGED_PLUGIN_NAME, namespace: "kube-system" },
            spec: {
                selector: { matchLabels: { name: MANAGED_PLUGIN_NAME } },
                template: {
                    metadata: { labels: { name: MANAGED_PLUGIN_NAME } },
                    spec: {
                        nodeSelector: { "gm-test/pool": node },
                        terminationGracePeriodSeconds: 1,
                        containers: [{ name: "nvidia-device-plugin-ctr", image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0" }],
                    },
                },
            },
        });
        await cp.kubectlOk(["-n", "kube-system", "rollout", "status", `daemonset/${MANAGED_PLUGIN_NAME}`, "--timeout=60s"], { timeoutMs: 70_000 });
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { GM_EXPECTED_PER_NODE: "1" }));
        assert.equal(run.code, 0, run.stderr);
        const order = host.journal().map((e) => `${e.cmd} ${e.args.filter((a) => !a.startsWith("--kubeconfig") && !a.includes("/")).join(" ")}`);
        const deleted = order.findIndex((c) => c.includes(`delete daemonset ${MANAGED_PLUGIN_NAME}`));
        const enabled = order.findIndex((c) => c.startsWith("minikube addons enable nvidia-device-plugin"));
        assert.ok(deleted >= 0 && enabled > deleted, `delete before enable:\n${order.join("\n")}`);
        assert.equal(host.calls("kubectl", "delete", "--cascade=foreground").length, 1, "waits for the plugin's pods (foreground)");
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: true, resourceName: "nvidia.com/gpu", expectedPerNode: 1, gpuAllocatable: { [node]: 1 },
        });
        assert.equal(await cp.kubectlOk(["-n", "kube-system", "get", "daemonsets,pods", "-l", `name=${MANAGED_PLUGIN_NAME}`, "-o", "name"]), "", "no leftover plugin");
    });

    it("with no manifest-mode plugin present, deletes nothing", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host, { addons: ["storage-provisioner"] });
        await addNode(cp, "nvidia.com/gpu", 1);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(host.calls("kubectl", "delete").length, 0);
        assert.equal(host.calls("minikube", "addons", "enable").length, 1);
    });
});
