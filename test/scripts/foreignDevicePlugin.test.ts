// existing-cluster-observe.sh finds the device plugins a cluster already runs (the real DaemonSet
// controller places their pods on kwok nodes, the real scheduler binds them), and
// components/foreignDevicePlugin.ts turns that into a conflict only for a plugin on a node ours would
// be placed on. The Forbidden case runs with a real ServiceAccount token under the API server's RBAC.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import * as YAML from "yaml";
import { parseSummary } from "../../components/hostCommand";
import { foreignPluginConflicts, foreignPluginMessage, parseDevicePluginRows } from "../../components/foreignDevicePlugin";
import { sharedControlPlane } from "../harness/sharedControlPlane";
import { KubectlSetup, runScript } from "../harness/existingScripts";
import { ControlPlane } from "../harness/controlPlane";

const OURS = "kube-system/gpu-minikube-nvidia-device-plugin";
const GPU_LABEL = { "nvidia.com/gpu.present": "true" };

function daemonSet(namespace: string, name: string, image: string, nodeSelector: Record<string, string>): object {
    const labels = { app: name };
    return {
        apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name, namespace },
        spec: {
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { nodeSelector, containers: [{ name: "plugin", image }] } },
        },
    };
}

describe("existing-cluster-observe.sh: device plugins already in the cluster (real DaemonSet controller and scheduler, kwok nodes)", () => {
    const shared = sharedControlPlane({}, async (cp) => {
        await cp.addGpuNode("gpu-a", { gpus: 1, labels: GPU_LABEL });
        await cp.addGpuNode("gpu-b", { gpus: 2, labels: GPU_LABEL });
        await cp.addGpuNode("cpu-c", { gpus: 0, resourceName: "example.com/not-a-gpu", labels: { pool: "cpu" } });
        await cp.apply(
            { apiVersion: "v1", kind: "Namespace", metadata: { name: "gpu-operator" } },
            { apiVersion: "v1", kind: "Namespace", metadata: { name: "monitoring" } },
            // The GPU Operator's plugin on the GPU nodes, and ours (left out by name).
            daemonSet("gpu-operator", "nvidia-device-plugin-daemonset", "nvcr.io/nvidia/k8s-device-plugin:v0.17.1", GPU_LABEL),
            daemonSet("kube-system", "gpu-minikube-nvidia-device-plugin", "nvcr.io/nvidia/k8s-device-plugin:v0.20.0", GPU_LABEL),
            // GKE deploys its plugin on every cluster; with no GKE accelerator node it has no pod.
            daemonSet("kube-system", "nvidia-gpu-device-plugin", "gke.gcr.io/nvidia-gpu-device-plugin@sha256:" + "0".repeat(64),
                { "cloud.google.com/gke-accelerator": "nvidia-h100-80gb" }),
            // A plugin pinned to a node ours is not placed on.
            daemonSet("monitoring", "cpu-pool-plugin", "registry.example/mirror/k8s-device-plugin:v0.17.1", { pool: "cpu" }),
            // Not device plugins: NVIDIA's exporter, and a look-alike repository name.
            daemonSet("monitoring", "dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04", GPU_LABEL),
            daemonSet("default", "lookalike", "registry.example/k8s-device-plugin-tools:1", GPU_LABEL),
        );
        // Every DaemonSet pod bound to its node (the controller creates them, the scheduler binds them):
        // 2 GPU nodes × 4 DaemonSets placed on them, and the CPU pool's one.
        for (let i = 0; ; i++) {
            const bound = await cp.kubectlOk(["get", "pods", "-A", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"]);
            if (bound.split("\n").filter((n) => n !== "").length === 9) break;
            if (i > 150) throw new Error(`DaemonSet pods not all bound:\n${bound}`);
            await new Promise((r) => setTimeout(r, 200));
        }
    });
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-kcache-"));
    after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
    const setup = (cp: ControlPlane, kubeconfig = cp.kubeconfig): KubectlSetup => ({ kubectlPath: cp.kubectlPath, kubeconfig, cacheDir });

    it("lists NVIDIA's and GKE's plugin DaemonSets with their pods' nodes; only a foreign one on a placed node conflicts", async (t) => {
        const cp = shared.get(t);
        if (!cp) return;
        const run = await runScript("existing-cluster-observe.sh", { GM_NODE_SELECTOR: "nvidia.com/gpu.present=true" }, setup(cp));
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-cluster-observe.sh");
        assert.equal(s.devicePluginsError, null);
        const plugins = parseDevicePluginRows(s.devicePlugins).map((p) => ({ ...p, nodes: p.nodes?.sort() ?? null }))
            .sort((a, b) => a.name.localeCompare(b.name));
        assert.deepEqual(plugins, [
            { name: "gpu-operator/nvidia-device-plugin-daemonset", images: ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"], nodes: ["gpu-a", "gpu-b"] },
            { name: OURS, images: ["nvcr.io/nvidia/k8s-device-plugin:v0.20.0"], nodes: ["gpu-a", "gpu-b"] },
            { name: "kube-system/nvidia-gpu-device-plugin", images: [`gke.gcr.io/nvidia-gpu-device-plugin@sha256:${"0".repeat(64)}`], nodes: [] },
            { name: "monitoring/cpu-pool-plugin", images: ["registry.example/mirror/k8s-device-plugin:v0.17.1"], nodes: ["cpu-c"] },
        ]);
        assert.match(run.stderr, /device plugin DaemonSets: .*gpu-operator\/nvidia-device-plugin-daemonset/);

        const check = foreignPluginConflicts(plugins, OURS, ["gpu-a", "gpu-b"]);
        assert.deepEqual(check, {
            conflicts: [{ name: "gpu-operator/nvidia-device-plugin-daemonset", images: ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"], nodes: ["gpu-a", "gpu-b"] }],
            unknown: [],
        });
        assert.match(foreignPluginMessage(check.conflicts),
            /gpu-operator\/nvidia-device-plugin-daemonset \(nvcr\.io\/nvidia\/k8s-device-plugin:v0\.17\.1\) on gpu-a, gpu-b\..*Nothing was deployed\. Fix: .*devicePlugin\.mode none/);
        // Placed elsewhere (the CPU pool only), the operator's plugin is no conflict, but the pinned one is.
        assert.deepEqual(foreignPluginConflicts(plugins, OURS, ["cpu-c"]).conflicts.map((c) => c.name), ["monitoring/cpu-pool-plugin"]);
    });

    it("a user who may not list DaemonSets: the probe still answers, with the API server's Forbidden as devicePluginsError", async (t) => {
        const cp = shared.get(t);
        if (!cp) return;
        // What the probe needs besides DaemonSets: read namespaces and list nodes.
        await cp.apply(
            { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "node-reader", namespace: "default" } },
            { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "node-reader" },
                rules: [{ apiGroups: [""], resources: ["nodes", "namespaces"], verbs: ["get", "list"] }] },
            { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "node-reader" },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "node-reader" },
                subjects: [{ kind: "ServiceAccount", name: "node-reader", namespace: "default" }] },
        );
        const token = (await cp.kubectlOk(["-n", "default", "create", "token", "node-reader", "--duration=10m"])).trim();
        // The admin kubeconfig with its client certificate swapped for the ServiceAccount's token.
        const doc = YAML.parse(cp.kubeconfig) as { users: { user: Record<string, string> }[] };
        doc.users[0].user = { token };
        const kubeconfig = YAML.stringify(doc);
        const run = await runScript("existing-cluster-observe.sh", { GM_NODE_SELECTOR: "nvidia.com/gpu.present=true" }, setup(cp, kubeconfig));
        assert.equal(run.code, 0, run.stderr);
        const s = parseSummary(run.stdout, "existing-cluster-observe.sh");
        assert.match(String(s.devicePluginsError), /Forbidden.*daemonsets/i);
        assert.equal(s.devicePlugins, "");
        assert.match(run.stderr, /WARNING: cannot list DaemonSets/);
        assert.match(String(s.nodes), /^gpu-a\t/m);
    });
});
