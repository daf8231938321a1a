// Manifest mode's host steps on the simulated host: device-plugin-addon-disable.sh (minikube's addon
// off, its pods gone) and device-plugin.sh in mode "manifest" (no addon step; every node advertises
// shares x GPUs of the right resource), and the way back: mode "addon" removes manifest mode's plugin
// before it enables the addon, so two plugins never serve one node.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { MANAGED_PLUGIN_NAME } from "../../components/devicePluginManifest";
import { SimHost, minikubeProfileState, simPluginPod, summaryOf, useKubeSim, writeKubeObjects, writeMinikubeProfile } from "../harness/simHost";

const PROFILE = "gpu-minikube";
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: gpu-minikube
  cluster:
    server: https://192.168.49.2:8443
users:
- name: gpu-minikube
  user:
    client-key-data: U0lNVUxBVEVE
contexts:
- name: gpu-minikube
  context:
    cluster: gpu-minikube
    user: gpu-minikube
current-context: gpu-minikube
`;

function env(host: SimHost, extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE,
        GM_KUBECONFIG: KUBECONFIG,
        // Generous: a passing run ends as soon as the cluster is ready; a loaded machine is slow.
        GM_TIMEOUT_SECONDS: "40",
        GM_POLL_SECONDS: "0.1",
        GM_PROC_DIR: path.join(host.root, "proc"),
        ...extra,
    };
}

/** A node that advertises `count` of `resource` from the `afterGets`-th `get nodes` on. */
function node(name: string, resource: string, count: number, afterGets = 1): object {
    const amount = { [resource]: String(count) };
    return {
        apiVersion: "v1", kind: "Node", metadata: { name },
        status: { allocatable: { cpu: "4", pods: "110" }, capacity: { cpu: "4", pods: "110" } },
        _sim: { after: [{ gets: afterGets, patch: { status: { allocatable: amount, capacity: amount } } }] },
    };
}

/** A pod of manifest mode's DaemonSet. */
function managedPod(name: string, extra: Record<string, unknown> = {}): object {
    return {
        apiVersion: "v1", kind: "Pod",
        metadata: { name, namespace: "kube-system", labels: { name: MANAGED_PLUGIN_NAME } },
        spec: { nodeName: "minikube", containers: [{ name: "nvidia-device-plugin-ctr", image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0" }] },
        status: { phase: "Running", containerStatuses: [{ name: "nvidia-device-plugin-ctr", ready: true, restartCount: 0, state: { running: {} } }] },
        ...extra,
    };
}

function markerFile(host: SimHost): string {
    return path.join(host.home, ".gpu-minikube", "profiles", PROFILE, "device-plugin-enabled-by-us");
}

let host: SimHost;
beforeEach(() => {
    host = SimHost.create({ standins: [] });
    useKubeSim(host);
    const dir = path.join(host.root, "proc", "sys", "net", "core");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "bpf_jit_harden"), "0\n");
    fs.writeFileSync(path.join(host.root, "proc", "version"), "Linux version 6.8.0-49-generic\n");
});
afterEach(() => host.cleanup());

describe("device-plugin-addon-disable.sh", () => {
    it("disables the addon minikube --gpus all enabled, waits until its plugin pods are gone; a second run changes nothing", async () => {
        writeMinikubeProfile(host);
        fs.mkdirSync(path.dirname(markerFile(host)), { recursive: true });
        fs.writeFileSync(markerFile(host), "");
        const addonPod = { ...(simPluginPod() as object), _sim: { vanishAfterGets: 3 } };
        writeKubeObjects(host, { nodes: [node("minikube", "nvidia.com/gpu", 1)], pods: [addonPod] });
        const run = await host.runScript("device-plugin-addon-disable.sh", env(host));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-addon-disable", addonWasEnabled: true, disabled: true });
        assert.deepEqual(host.calls("minikube", "addons", "disable").map((e) => e.args), [["addons", "disable", "nvidia-device-plugin", "-p", PROFILE]]);
        assert.ok(!minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
        assert.equal(host.calls("kubectl", "get", "pods").length, 3, "polled until the addon's pod was gone");
        assert.match(run.stderr, /waiting for the addon's plugin pods to go: still there: pod\/nvidia-device-plugin-daemonset-x7k2p/);
        assert.ok(!fs.existsSync(markerFile(host)), "the addon step's 'enabled by us' note is no longer true");

        host.resetJournal();
        const again = await host.runScript("device-plugin-addon-disable.sh", env(host));
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(summaryOf(again), { stage: "device-plugin-addon-disable", addonWasEnabled: false, disabled: false });
        assert.equal(host.calls("minikube", "addons", "disable").length, 0);
    });

    it("fails within the deadline, naming the pods, when the addon's plugin pods stay", async () => {
        writeMinikubeProfile(host);
        writeKubeObjects(host, { pods: [simPluginPod()] });
        const run = await host.runScript("device-plugin-addon-disable.sh", env(host, { GM_TIMEOUT_SECONDS: "15" }), 40_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: the addon's plugin pods did not go away within 15s \(found: still there: pod\/nvidia-device-plugin-daemonset-x7k2p\)/);
        assert.equal(run.stdout, "");
    });

    it("a failing disable is an error that says how to fix it", async () => {
        writeMinikubeProfile(host);
        host.fault("minikube", { match: "disable", exitCode: 11, stderr: "❌  Exiting due to MK_ADDON_DISABLE: disable failed" });
        const run = await host.runScript("device-plugin-addon-disable.sh", env(host));
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: could not disable the nvidia-device-plugin addon .*exited 11.*minikube addons disable nvidia-device-plugin -p gpu-minikube/);
    });

    for (const [key, value] of [["GM_PROFILE", "x; rm -rf /"], ["GM_TIMEOUT_SECONDS", "$(reboot)"], ["GM_POLL_SECONDS", "9"]]) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            writeMinikubeProfile(host);
            host.resetJournal();
            const run = await host.runScript("device-plugin-addon-disable.sh", env(host, { [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});

describe("device-plugin.sh, mode manifest", () => {
    it("no addon step; ready when every node advertises shares x GPUs of the renamed resource", async () => {
        writeMinikubeProfile(host, { addons: [] });
        writeKubeObjects(host, {
            nodes: [node("minikube", "nvidia.com/gpu.shared", 8, 3), node("minikube-m02", "nvidia.com/gpu.shared", 8)],
            pods: [managedPod("gpu-minikube-nvidia-device-plugin-abcde")],
        });
        const run = await host.runScript("device-plugin.sh", env(host, {
            GM_MODE: "manifest", GM_RESOURCE_NAME: "nvidia.com/gpu.shared", GM_EXPECTED_PER_NODE: "8",
        }));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "manifest", enabledByUs: false, resourceName: "nvidia.com/gpu.shared", expectedPerNode: 8,
            gpuAllocatable: { minikube: 8, "minikube-m02": 8 },
        });
        assert.equal(host.calls("minikube").length, 0, "manifest mode never touches minikube's addon");
        assert.equal(host.calls("kubectl", "get", "nodes").length, 3);
        assert.match(run.stderr, /waiting for nvidia\.com\/gpu\.shared \(8\) in every node's allocatable/);
    });

    it("a node still advertising the old count is not ready; the error names the counts and the likely cause", async () => {
        writeMinikubeProfile(host, { addons: [] });
        writeKubeObjects(host, { nodes: [node("minikube", "nvidia.com/gpu", 1)], pods: [managedPod("gpu-minikube-nvidia-device-plugin-abcde")] });
        const run = await host.runScript("device-plugin.sh", env(host, {
            GM_MODE: "manifest", GM_EXPECTED_PER_NODE: "4", GM_TIMEOUT_SECONDS: "20",
        }), 30_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: not every node advertised 4 nvidia\.com\/gpu within 20s \(found: minikube allocatable 1; plugin pod: gpu-minikube-nvidia-device-plugin-abcde on minikube: Running/);
        assert.match(run.stderr, /a node advertises a different number of nvidia\.com\/gpu than expected \(minikube: 1; expected 4 = shares per GPU x the host's GPUs\)/);
        assert.match(run.stderr, /plugin pods \(-n kube-system -l name=gpu-minikube-nvidia-device-plugin\)/);
    });

    it("a crash-looping plugin (FAIL_ON_INIT_ERROR=true, no GPU) with no pod: says the DaemonSet scheduled none", async () => {
        writeMinikubeProfile(host, { addons: [] });
        writeKubeObjects(host, { nodes: [{ apiVersion: "v1", kind: "Node", metadata: { name: "minikube" }, status: {} }] });
        const run = await host.runScript("device-plugin.sh", env(host, { GM_MODE: "manifest", GM_EXPECTED_PER_NODE: "1", GM_TIMEOUT_SECONDS: "5" }), 30_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /no plugin pod exists: the DaemonSet gpu-minikube-nvidia-device-plugin did not schedule one/);
    });

    const bad: Array<[string, string]> = [
        ["GM_MODE", "helm"], ["GM_MODE", "addon; reboot"], ["GM_RESOURCE_NAME", "nvidia.com/gpu;id"], ["GM_RESOURCE_NAME", "amd.com/gpu"],
        ["GM_EXPECTED_PER_NODE", "0"], ["GM_EXPECTED_PER_NODE", "4x"], ["GM_EXPECTED_PER_NODE", "$(id)"],
    ];
    for (const [key, value] of bad) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            writeMinikubeProfile(host);
            host.resetJournal();
            const run = await host.runScript("device-plugin.sh", env(host, { GM_MODE: "manifest", [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});

describe("switching back to mode addon", () => {
    it("removes manifest mode's plugin (and waits for its pods) before enabling the addon", async () => {
        // After manifest mode: the addon is disabled, our DaemonSet and its pod run, the node advertises 4 shares.
        writeMinikubeProfile(host, { addons: ["storage-provisioner"] });
        writeKubeObjects(host, {
            nodes: [node("minikube", "nvidia.com/gpu", 1)],
            daemonsets: [{
                apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: MANAGED_PLUGIN_NAME, namespace: "kube-system" },
                spec: { selector: { matchLabels: { name: MANAGED_PLUGIN_NAME } } },
            }],
            pods: [managedPod("gpu-minikube-nvidia-device-plugin-abcde")],
        });
        const run = await host.runScript("device-plugin.sh", env(host, { GM_EXPECTED_PER_NODE: "1" }));
        assert.equal(run.code, 0, run.stderr);
        const order = host.journal().map((e) => `${e.cmd} ${e.args.filter((a) => !a.startsWith("--kubeconfig") && !a.includes("/")).join(" ")}`);
        const deleted = order.findIndex((c) => c.includes(`delete daemonset ${MANAGED_PLUGIN_NAME}`));
        const enabled = order.findIndex((c) => c.startsWith("minikube addons enable nvidia-device-plugin"));
        assert.ok(deleted >= 0 && enabled > deleted, `delete before enable:\n${order.join("\n")}`);
        assert.ok(host.calls("kubectl", "delete", "--cascade=foreground").length === 1, "waits for the plugin's pods (foreground)");
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: true, resourceName: "nvidia.com/gpu", expectedPerNode: 1, gpuAllocatable: { minikube: 1 },
        });
        const objects = JSON.parse(fs.readFileSync(path.join(host.state, "kube", "objects.json"), "utf8")) as { daemonsets: object[]; pods: object[] };
        assert.deepEqual(objects.daemonsets, [], "no leftover plugin");
        assert.deepEqual(objects.pods, []);
    });

    it("with no manifest-mode plugin present, deletes nothing", async () => {
        writeMinikubeProfile(host, { addons: ["storage-provisioner"] });
        writeKubeObjects(host, { nodes: [node("minikube", "nvidia.com/gpu", 1)] });
        const run = await host.runScript("device-plugin.sh", env(host));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(host.calls("kubectl", "delete").length, 0);
        assert.equal(host.calls("minikube", "addons", "enable").length, 1);
    });
});
