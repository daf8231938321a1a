import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
    SimHost, minikubeProfileState, simEvent, simNode, simPluginPod, summaryOf, useKubeSim, writeKubeObjects,
    writeMinikubeProfile, writePodLog,
} from "../harness/simHost";

/**
 * device-plugin.sh and device-plugin-delete.sh on the simulated host: the minikube stand-in keeps
 * the addon's state, the kubectl stand-in serves nodes whose allocatable nvidia.com/gpu appears
 * after N polls (or never), and the addon's plugin pod with its log and events.
 */

const PROFILE = "gpu-minikube";
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: gpu-minikube
  cluster:
    server: https://192.168.49.2:8443
    certificate-authority-data: U0lNVUxBVEVE
users:
- name: gpu-minikube
  user:
    client-certificate-data: U0lNVUxBVEVE
    client-key-data: U0lNVUxBVEVE
contexts:
- name: gpu-minikube
  context:
    cluster: gpu-minikube
    user: gpu-minikube
current-context: gpu-minikube
`;

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

function env(host: SimHost, extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE,
        GM_KUBECONFIG: KUBECONFIG,
        GM_TIMEOUT_SECONDS: "10",
        GM_POLL_SECONDS: "0.1",
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

describe("device-plugin.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useKubeSim(host);
        writeProc(host, 0);
    });
    afterEach(() => host.cleanup());

    it("addon already enabled by minikube --gpus all: leaves it, waits until the node advertises GPUs (after 3 polls)", async () => {
        writeMinikubeProfile(host);
        writeKubeObjects(host, { nodes: [simNode("minikube", { gpus: 1, afterGets: 3 })], pods: [simPluginPod()] });
        const run = await host.runScript("device-plugin.sh", env(host));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: false, resourceName: "nvidia.com/gpu", expectedPerNode: null, gpuAllocatable: { minikube: 1 },
        });
        assert.equal(host.calls("minikube", "addons", "enable").length, 0);
        assert.equal(host.calls("kubectl", "get", "nodes").length, 3);
        assert.equal((run.stderr.match(/poll \d+ \(\d+s of 10s\): waiting for nvidia\.com\/gpu/g) ?? []).length, 2, "a progress line per poll");
        // Every kubectl call names our kubeconfig (the stand-in refuses anything else; see below).
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
    });

    it("addon disabled: enables it, records that we did, and reports every node's GPUs", async () => {
        writeMinikubeProfile(host, { gpus: "nvidia.com", addons: ["storage-provisioner"] });
        writeKubeObjects(host, { nodes: [simNode("minikube", { gpus: 2 }), simNode("minikube-m02", { gpus: 1, afterGets: 2 })] });
        const run = await host.runScript("device-plugin.sh", env(host));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "device-plugin", mode: "addon", enabledByUs: true, resourceName: "nvidia.com/gpu", expectedPerNode: null,
            gpuAllocatable: { minikube: 2, "minikube-m02": 1 },
        });
        assert.deepEqual(host.calls("minikube", "addons", "enable").map((e) => e.args), [["addons", "enable", "nvidia-device-plugin", "-p", PROFILE]]);
        assert.ok(minikubeProfileState(host)?.addons.includes("nvidia-device-plugin"));
        assert.ok(fs.existsSync(markerFile(host)));

        // A re-run (e.g. after a cluster restart) still knows the addon is ours, and enables nothing.
        host.resetJournal();
        writeKubeObjects(host, { nodes: [simNode("minikube", { gpus: 2 }), simNode("minikube-m02", { gpus: 1 })] });
        const again = await host.runScript("device-plugin.sh", env(host));
        assert.equal(again.code, 0, again.stderr);
        assert.equal(summaryOf(again).enabledByUs, true);
        assert.equal(host.calls("minikube", "addons", "enable").length, 0);
    });

    it("never advertised: fails within the deadline with the pod's state, its log, events and the likely causes", async () => {
        writeMinikubeProfile(host);
        writeProc(host, 2);
        const pod = "nvidia-device-plugin-daemonset-x7k2p";
        writeKubeObjects(host, {
            nodes: [simNode("minikube")],
            pods: [simPluginPod(pod)],
            events: [simEvent("kube-system", "Pod", pod, "Normal", "Started", "Started container nvidia-device-plugin-ctr")],
        });
        writePodLog(host, "kube-system", pod, NO_NVML_LOG);
        const run = await host.runScript("device-plugin.sh", env(host, { GM_TIMEOUT_SECONDS: "6" }), 30_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 6_000 + 4_000, `took ${run.durationMs} ms for a 6 s deadline`);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, /\[device-plugin\] ERROR: no node advertised nvidia\.com\/gpu within 6s \(found: minikube allocatable none; plugin pod: nvidia-device-plugin-daemonset-x7k2p on minikube: Running, restarts=0; most likely: the plugin sees no NVIDIA driver/);
        assert.match(run.stderr, /\| minikube: allocatable none, capacity none\n/);
        assert.match(run.stderr, /\| nvidia-device-plugin-daemonset-x7k2p on minikube: Running, restarts=0\n/);
        assert.match(run.stderr, /last log lines of nvidia-device-plugin-daemonset-x7k2p:\n(.*\n)*.*did you configure the NVIDIA Container Toolkit\?/);
        assert.match(run.stderr, /events of nvidia-device-plugin-daemonset-x7k2p:\n(.*\n)*.*Started container/);
        assert.match(run.stderr, /1\. the plugin sees no NVIDIA driver inside the node: .*created before the NVIDIA Container Toolkit was configured.*minikube delete -p gpu-minikube/);
        assert.match(run.stderr, /net\.core\.bpf_jit_harden=2.*sudo sysctl -w net\.core\.bpf_jit_harden=0/);
        assert.match(run.stderr, /\)\. Fix: recreate the profile: 'minikube delete -p gpu-minikube' then 'pulumi up'/);
        assert.ok(host.calls("kubectl", "get", "nodes").length >= 2, "it polled");
    });

    it("never advertised and no plugin pod: says the DaemonSet has no pod; WSL2 notes on a WSL2 kernel", async () => {
        writeMinikubeProfile(host);
        writeProc(host, 0, "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f)");
        writeKubeObjects(host, { nodes: [simNode("minikube")] });
        const run = await host.runScript("device-plugin.sh", env(host, { GM_TIMEOUT_SECONDS: "2" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 2_000 + 4_000, `took ${run.durationMs} ms for a 2 s deadline`);
        assert.match(run.stderr, /no plugin pod exists: the nvidia-device-plugin addon's DaemonSet did not schedule one/);
        assert.match(run.stderr, /WSL2: the NVIDIA driver is installed on Windows only/);
        assert.doesNotMatch(run.stderr, /bpf_jit_harden=0', then/, "bpf_jit_harden is 0 here");
    });

    it("the NVIDIA hook's BPF failure in the plugin's events: names bpf_jit_harden first", async () => {
        writeMinikubeProfile(host);
        const pod = "nvidia-device-plugin-daemonset-q8w4z";
        const crashing = simPluginPod(pod) as { status: Record<string, unknown> };
        crashing.status = {
            phase: "Running",
            containerStatuses: [{ name: "nvidia-device-plugin-ctr", ready: false, restartCount: 4,
                state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 1m20s restarting failed container" } } }],
        };
        writeKubeObjects(host, {
            nodes: [simNode("minikube")],
            pods: [crashing],
            events: [simEvent("kube-system", "Pod", pod, "Warning", "Failed",
                "Error: failed to start container \"nvidia-device-plugin-ctr\": Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running prestart hook #0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\nnvidia-container-cli: mount error: failed to add device rules: unable to generate new device filter program from existing programs: unable to create new device filters program: load program: invalid argument: last insn is not an exit or jmp")],
        });
        const run = await host.runScript("device-plugin.sh", env(host, { GM_TIMEOUT_SECONDS: "1" }), 20_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /\| nvidia-device-plugin-daemonset-q8w4z on minikube: Running, CrashLoopBackOff restarts=4/);
        assert.match(run.stderr, /1\. the NVIDIA container hook failed on BPF/);
        assert.match(run.stderr, /Fix: 'sudo sysctl -w net\.core\.bpf_jit_harden=0'/);
    });

    it("an unreachable API server counts as not ready, and the error says so", async () => {
        writeMinikubeProfile(host);
        writeKubeObjects(host, { nodes: [simNode("minikube", { gpus: 1 })] });
        fs.writeFileSync(path.join(host.state, "kube", "unreachable"), "");
        const run = await host.runScript("device-plugin.sh", env(host, { GM_TIMEOUT_SECONDS: "4" }), 20_000);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /the API server did not answer \(The connection to the server 192\.168\.49\.2:8443 was refused/);
        assert.match(run.stderr, /found: no nodes seen \(The connection to the server/);
        assert.doesNotMatch(run.stderr, /ERROR: .*memcache\.go/, "kubectl's own line is quoted, not its klog lines");
    });

    it("passes the kubeconfig only as a private mode-600 file, removed afterwards", async () => {
        writeMinikubeProfile(host);
        writeKubeObjects(host, { nodes: [simNode("minikube", { gpus: 1 })] });
        // The stand-in refuses a kubeconfig that is not mode 600; record the path it was given.
        const run = await host.runScript("device-plugin.sh", env(host, { TMPDIR: host.root }));
        assert.equal(run.code, 0, run.stderr);
        const file = host.calls("kubectl")[0].args[1];
        assert.ok(file.startsWith(host.root), file);
        assert.ok(!fs.existsSync(file), "the temp kubeconfig is removed on exit");
        assert.ok(!run.stderr.includes("U0lNVUxBVEVE") && !run.stdout.includes("U0lNVUxBVEVE"), "the kubeconfig is never printed");
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
                host.resetJournal();
                const run = await host.runScript("device-plugin.sh", env(host, { [key]: value }));
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
