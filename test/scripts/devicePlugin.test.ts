import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ControlPlane } from "../harness/controlPlane";
import { blackHoleServer, deleteObjects, kubeconfigFor, sharedControlPlane, useRealKubectl } from "../harness/sharedControlPlane";
import { SimHost, minikubeProfileState, summaryOf, writeMinikubeProfile } from "../harness/simHost";

/**
 * device-plugin.sh with the real kubectl v1.37.2 against a real API server (one per file) whose
 * nodes kwok simulates: each test adds its own nodes advertising nvidia.com/gpu (or not), patches
 * their allocatable while the script waits, and runs plugin pods that kwok keeps Running, with
 * their log served through the API server. The minikube stand-in keeps the addon's state (the real
 * minikube cannot create a node here); device-plugin-delete.sh needs no cluster.
 */

const PROFILE = "gpu-minikube";

/** A plugin log of the kind the v0.17 plugin prints when the node has no usable driver. */
const NO_NVML_LOG = `I1129 11:40:03.100331       1 main.go:235] "Starting NVIDIA Device Plugin" version=<
	3c378193
	commit: 3c378193fcebf6e955f0d65bd6f2aeed099ad8ea
 >
I1129 11:40:03.100418       1 main.go:238] Starting FS watcher for /var/lib/kubelet/device-plugins
I1129 11:40:03.100461       1 main.go:245] Starting OS watcher.
I1129 11:40:03.100675       1 main.go:260] Starting Plugins.
I1129 11:40:03.100710       1 main.go:317] Loading configuration.
I1129 11:40:03.101318       1 main.go:342] Updating config with default resource matching patterns.
I1129 11:40:03.101513       1 main.go:353]
I1129 11:40:03.101697       1 main.go:356] Retrieving plugins.
E1129 11:40:03.101826       1 factory.go:112] Incompatible strategy detected auto
E1129 11:40:03.101835       1 factory.go:113] If this is a GPU node, did you configure the NVIDIA Container Toolkit?
E1129 11:40:03.101838       1 factory.go:114] You can check the prerequisites at: https://github.com/NVIDIA/k8s-device-plugin#prerequisites
E1129 11:40:03.101841       1 factory.go:115] You can learn how to set the runtime at: https://github.com/NVIDIA/k8s-device-plugin#quick-start
E1129 11:40:03.101844       1 factory.go:116] If this is not a GPU node, you should set up a toleration or nodeSelector to only deploy this plugin on GPU nodes
I1129 11:40:03.101851       1 main.go:384] No devices found. Waiting indefinitely.
`;

function env(host: SimHost, kubeconfig: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE,
        GM_KUBECONFIG: kubeconfig,
        // Generous: a passing run ends as soon as the nodes advertise GPUs; a loaded machine is slow.
        GM_TIMEOUT_SECONDS: "60",
        GM_POLL_SECONDS: "0.5",
        GM_PROC_DIR: path.join(host.root, "proc"),
        ...extra,
    };
}

/** A fake /proc: bpf_jit_harden and the kernel version (WSL2 kernels say "microsoft"). */
function writeProc(host: SimHost, bpf: number, kernel = "Linux version 6.8.0-49-generic (buildd@lcy02-amd64-103)"): void {
    const dir = path.join(host.root, "proc", "sys", "net", "core");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "bpf_jit_harden"), `${bpf}\n`);
    fs.writeFileSync(path.join(host.root, "proc", "version"), `${kernel}\n`);
}

function markerFile(host: SimHost): string {
    return path.join(host.home, ".gpu-minikube", "profiles", PROFILE, "device-plugin-enabled-by-us");
}

/**
 * A pod of the minikube addon's DaemonSet (its labels and container) bound to NODE; kwok runs it.
 * Waits until it is Running, so the script's diagnostics see a running plugin.
 */
async function addPluginPod(cp: ControlPlane, name: string, node: string): Promise<void> {
    await cp.apply({
        apiVersion: "v1", kind: "Pod",
        metadata: { name, namespace: "kube-system", labels: { name: "nvidia-device-plugin-ds" } },
        spec: {
            nodeName: node,
            // kwok finishes a deletion at a random moment up to the end of the grace period (default 30 s).
            terminationGracePeriodSeconds: 1,
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            containers: [{ name: "nvidia-device-plugin-ctr", image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.4" }],
        },
    });
    await cp.kubectlOk(["-n", "kube-system", "wait", "--for=jsonpath={.status.phase}=Running", `pod/${name}`, "--timeout=60s"], { timeoutMs: 70_000 });
}

/** An event about pod NAME in kube-system, as the kubelet posts it. */
async function addPodEvent(cp: ControlPlane, pod: string, type: string, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    await cp.apply({
        apiVersion: "v1", kind: "Event",
        metadata: { name: `${pod}.${reason.toLowerCase()}`, namespace: "kube-system" },
        involvedObject: { apiVersion: "v1", kind: "Pod", name: pod, namespace: "kube-system" },
        type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now,
        source: { component: "kubelet", host: "minikube" },
    });
}

describe("device-plugin.sh (real kubectl, real API server, kwok nodes)", () => {
    // Pod stage delays are not under test here: kwok runs plugin pods within a fraction of a second.
    const shared = sharedControlPlane({ podStageDelay: { minMs: 100, maxMs: 300 } });
    let host: SimHost;
    /** Nodes and kube-system pods this test made (deleted after it: the script waits for EVERY node). */
    let nodes: string[] = [];
    let pods: string[] = [];
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        writeProc(host, 0);
        nodes = [];
        pods = [];
    });
    afterEach(async () => {
        host.cleanup();
        const cp = shared.current();
        if (!cp) return;
        // Pods first, while kwok still manages their node (it finishes their deletion); then the nodes.
        // The script sees every node and plugin pod: wait until this test's are gone.
        await deleteObjects(cp, "pod", pods, "kube-system", true);
        await deleteObjects(cp, "node", nodes, undefined, true);
    });

    /** This test's GPU node(s), named uniquely, each advertising GPUS. */
    async function addNodes(cp: ControlPlane, ...gpus: number[]): Promise<string[]> {
        const names = gpus.map(() => shared.unique("gpu-node"));
        for (const [i, name] of names.entries()) {
            nodes.push(name);
            await cp.addGpuNode(name, { gpus: gpus[i] });
        }
        return names;
    }

    function setup(t: { skip: (m?: string) => void }): ControlPlane | undefined {
        const cp = shared.get(t);
        if (cp) useRealKubectl(host, cp);
        return cp;
    }

    it("addon already enabled by minikube --gpus all, a node advertising nvidia.com/gpu: 1: done, the addon left alone", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        const [node] = await addNodes(cp, 1);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: false, resourceName: "nvidia.com/gpu", expectedPerNode: null, gpuAllocatable: { [node]: 1 },
        });
        assert.equal(host.calls("minikube", "addons", "enable").length, 0);
        assert.equal(host.calls("kubectl", "get", "nodes").length, 1, "ready at the first poll");
        // Every kubectl call names our private kubeconfig, never the ambient one.
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
    });

    it("a node patched from 0 to 1 nvidia.com/gpu while the script waits: done within one poll", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        const [node] = await addNodes(cp, 0);
        const running = host.runScript("device-plugin.sh", env(host, cp.kubeconfig));
        // Let it poll (and see 0) at least twice, then advertise the GPU as the kubelet does.
        const polled = Date.now() + 60_000;
        while (host.calls("kubectl", "get", "nodes").length < 2 && Date.now() < polled) await new Promise((r) => setTimeout(r, 100));
        assert.ok(host.calls("kubectl", "get", "nodes").length >= 2, "the script polled");
        await cp.setAllocatable(node, "nvidia.com/gpu", 1);
        const atPatch = host.calls("kubectl", "get", "nodes").length;
        const run = await running;
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run).gpuAllocatable, { [node]: 1 });
        // The poll in flight when the patch landed may still have seen 0; the next one sees 1.
        assert.ok(host.calls("kubectl", "get", "nodes").length - atPatch <= 1, `polls after the patch: ${host.calls("kubectl", "get", "nodes").length - atPatch}`);
        assert.match(run.stderr, new RegExp(`poll 1 \\(\\d+s of 60s\\): waiting for nvidia\\.com/gpu \\(at least 1\\) in every node's allocatable: ${node}: 0 allocatable`));
    });

    it("addon disabled: enables it, records that we did, and reports every node's GPUs (two nodes)", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host, { gpus: "nvidia.com", addons: ["storage-provisioner"] });
        const [a, b] = await addNodes(cp, 2, 1);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: true, resourceName: "nvidia.com/gpu", expectedPerNode: null,
            gpuAllocatable: { [a]: 2, [b]: 1 },
        });
        assert.deepEqual(host.calls("minikube", "addons", "enable").map((e) => e.args), [["addons", "enable", "nvidia-device-plugin", "-p", PROFILE]]);
        assert.ok(minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
        assert.ok(fs.existsSync(markerFile(host)));

        // A re-run (e.g. after a cluster restart) still knows the addon is ours, and enables nothing.
        host.resetJournal();
        const again = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig));
        assert.equal(again.code, 0, again.stderr);
        assert.equal(summaryOf(again).enabledByUs, true);
        assert.equal(host.calls("minikube", "addons", "enable").length, 0);
    });

    it("a node advertising 0: fails at the deadline with the plugin pod's state, its log, events and the likely causes", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        writeProc(host, 2);
        const [node] = await addNodes(cp, 0);
        const pod = shared.unique("nvidia-device-plugin-daemonset");
        pods.push(pod);
        await cp.setPodLogs("device-plugin", { namespaces: ["kube-system"], pods: [pod] }, NO_NVML_LOG);
        await addPluginPod(cp, pod, node);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { GM_TIMEOUT_SECONDS: "10" }), 60_000);
        assert.equal(run.code, 1, run.stderr);
        assert.equal(run.stdout, "");
        const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
        assert.match(run.stderr, new RegExp(`\\[device-plugin\\] ERROR: no node advertised nvidia\\.com/gpu within 10s \\(found: ${esc(node)} allocatable 0; plugin pod: ${esc(pod)} on ${esc(node)}: Running, restarts=0; most likely: the plugin sees no NVIDIA driver`));
        assert.match(run.stderr, new RegExp(`\\| ${esc(node)}: allocatable 0, capacity 0\\n`));
        assert.match(run.stderr, new RegExp(`\\| ${esc(pod)} on ${esc(node)}: Running, restarts=0\\n`));
        assert.match(run.stderr, new RegExp(`last log lines of ${esc(pod)}:\\n(.*\\n)*.*did you configure the NVIDIA Container Toolkit\\?`));
        // kwok posts the kubelet's "Created container" event for the pod.
        assert.match(run.stderr, new RegExp(`events of ${esc(pod)}:\\n(.*\\n)*  \\| Normal Created: Created container\\n`));
        assert.match(run.stderr, /1\. the plugin sees no NVIDIA driver inside the node: .*created before the NVIDIA Container Toolkit was configured.*minikube delete -p gpu-minikube/);
        assert.match(run.stderr, /net\.core\.bpf_jit_harden=2.*sudo sysctl -w net\.core\.bpf_jit_harden=0/);
        assert.match(run.stderr, /\)\. Fix: recreate the profile: 'minikube delete -p gpu-minikube' then 'pulumi up'/);
        assert.ok(host.calls("kubectl", "get", "nodes").length >= 2, "it polled");
    });

    it("a node advertising 0 and no plugin pod: says the DaemonSet has no pod; WSL2 notes on a WSL2 kernel", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        writeProc(host, 0, "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f)");
        await addNodes(cp, 0);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, /plugin pods \(-n kube-system -l name=nvidia-device-plugin-ds\):\n {2}\| \(none\)/);
        assert.match(run.stderr, /no plugin pod exists: the nvidia-device-plugin addon's DaemonSet did not schedule one/);
        assert.match(run.stderr, /WSL2: the NVIDIA driver is installed on Windows only/);
        assert.doesNotMatch(run.stderr, /bpf_jit_harden=0', then/, "bpf_jit_harden is 0 here");
    });

    it("the NVIDIA hook's BPF failure in the plugin pod's events: names bpf_jit_harden first", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        const [node] = await addNodes(cp, 0);
        const pod = shared.unique("nvidia-device-plugin-daemonset");
        pods.push(pod);
        await addPluginPod(cp, pod, node);
        await addPodEvent(cp, pod, "Warning", "Failed",
            "Error: failed to start container \"nvidia-device-plugin-ctr\": Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running prestart hook #0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\nnvidia-container-cli: mount error: failed to add device rules: unable to generate new device filter program from existing programs: unable to create new device filters program: load program: invalid argument: last insn is not an exit or jmp");
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 1, run.stderr);
        // The whole message: kubectl's event table would cut it at its first line, before the BPF error.
        assert.match(run.stderr, /\| Warning Failed: Error: failed to start container .*\n {2}\| nvidia-container-cli: mount error: .*last insn is not an exit or jmp\n/);
        assert.match(run.stderr, /1\. the NVIDIA container hook failed on BPF/);
        assert.match(run.stderr, /Fix: 'sudo sysctl -w net\.core\.bpf_jit_harden=0'/);
    });

    it("an unreachable API server counts as not ready, and the error quotes kubectl's own line", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        const run = await host.runScript("device-plugin.sh", env(host, kubeconfigFor(cp, "https://127.0.0.1:1"), { GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /the API server did not answer \(The connection to the server 127\.0\.0\.1:1 was refused - did you specify the right host or port\?\)/);
        assert.match(run.stderr, /found: no nodes seen \(The connection to the server/);
        assert.doesNotMatch(run.stderr, /ERROR: .*memcache\.go/, "kubectl's own line is quoted, not its klog lines");
    });

    it("an API server that accepts but never answers: the wait and its diagnostics still end by the deadline + 5 s", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        const hole = await blackHoleServer();
        try {
            const run = await host.runScript("device-plugin.sh", env(host, kubeconfigFor(cp, `https://127.0.0.1:${hole.port}`), { GM_TIMEOUT_SECONDS: "5" }), 60_000);
            assert.equal(run.code, 1);
            // Every kubectl call is killed at its share of the deadline; the tail gets 5 s at most.
            assert.ok(run.durationMs < 5_000 + 5_000 + 3_000, `took ${run.durationMs} ms for a 5 s deadline`);
            assert.match(run.stderr, /ERROR: no node advertised nvidia\.com\/gpu within 5s \(found: no nodes seen/);
        } finally {
            await hole.close();
        }
    });

    it("passes the kubeconfig only as a private mode-600 file, removed afterwards", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        writeMinikubeProfile(host);
        await addNodes(cp, 1);
        const run = await host.runScript("device-plugin.sh", env(host, cp.kubeconfig, { TMPDIR: host.root }));
        assert.equal(run.code, 0, run.stderr);
        const file = host.calls("kubectl")[0].args[1];
        assert.ok(file.startsWith(host.root), file);
        assert.ok(!fs.existsSync(file), "the temp kubeconfig is removed on exit");
        const key = /client-key-data: (\S+)/.exec(cp.kubeconfig)?.[1] as string;
        assert.ok(key && !run.stderr.includes(key) && !run.stdout.includes(key), "the kubeconfig is never printed");
    });

    describe("rejects bad inputs before any command runs", () => {
        const bad: Array<[string, string]> = [
            ["GM_PROFILE", "x; rm -rf /"],
            ["GM_TIMEOUT_SECONDS", "10; reboot"],
            ["GM_POLL_SECONDS", "5"],
            ["GM_POLL_SECONDS", "0"],
            ["GM_KUBECONFIG", ""],
        ];
        for (const [key, value] of bad) {
            it(`${key}=${JSON.stringify(value)}`, async () => {
                writeMinikubeProfile(host);
                host.writeStandin("kubectl", "exit 0");
                host.resetJournal();
                const run = await host.runScript("device-plugin.sh", env(host, "apiVersion: v1\nkind: Config\n", { [key]: value }));
                assert.equal(run.code, 1);
                assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
                assert.deepEqual(host.journal(), []);
            });
        }
    });
});

describe("device-plugin-delete.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
    });
    afterEach(() => host.cleanup());

    const created = (enabledByUs: boolean) =>
        `{"stage":"device-plugin","mode":"addon","enabledByUs":${enabledByUs},"gpuAllocatable":{"minikube":1}}\n`;

    it("disables the addon when our create step enabled it", async () => {
        writeMinikubeProfile(host);
        fs.mkdirSync(path.dirname(markerFile(host)), { recursive: true });
        fs.writeFileSync(markerFile(host), "");
        const run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: PROFILE, PULUMI_COMMAND_STDOUT: created(true) });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-delete", disabled: true });
        assert.deepEqual(host.calls("minikube", "addons").map((e) => e.args), [["addons", "disable", "nvidia-device-plugin", "-p", PROFILE]]);
        assert.ok(!minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
        assert.ok(!fs.existsSync(markerFile(host)));
    });

    it("leaves an addon that minikube (--gpus all) or the user enabled", async () => {
        writeMinikubeProfile(host);
        const run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: PROFILE, PULUMI_COMMAND_STDOUT: created(false) });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-delete", disabled: false });
        assert.equal(host.calls("minikube").length, 0);
        assert.ok(minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
    });

    it("no create output, or the profile is gone: nothing to do", async () => {
        writeMinikubeProfile(host);
        let run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: PROFILE });
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-delete", disabled: false });
        run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: "other", PULUMI_COMMAND_STDOUT: created(true) });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-delete", disabled: false });
        assert.equal(host.calls("minikube", "addons").length, 0);
    });

    it("a failing disable is a warning, not a failed destroy", async () => {
        writeMinikubeProfile(host);
        host.fault("minikube", { match: "disable", exitCode: 11, stderr: "❌  Exiting due to MK_ADDON_DISABLE: disable failed" });
        const run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: PROFILE, PULUMI_COMMAND_STDOUT: created(true) });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "device-plugin-delete", disabled: false });
        assert.match(run.stderr, /WARNING: 'minikube addons disable nvidia-device-plugin -p gpu-minikube' exited 11/);
    });

    it("rejects a hostile profile before any command", async () => {
        const run = await host.runScript("device-plugin-delete.sh", { GM_PROFILE: "$(reboot)", PULUMI_COMMAND_STDOUT: created(true) });
        assert.equal(run.code, 1);
        assert.deepEqual(host.journal(), []);
    });
});
