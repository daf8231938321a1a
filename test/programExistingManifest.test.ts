// The whole program under Pulumi's mocks with cluster.mode "existing" and devicePlugin.mode
// "manifest": NVIDIA's plugin (ConfigMap + DaemonSet) goes through the existing cluster's provider,
// placed on the GPU nodes only, with no minikube step; the wait covers only the placed nodes, and the
// verification waits for it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { existingKubeconfig, nodeRow, output, Program, programMocks, scriptOf } from "./harness/programMocks";

const POD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const KUBECONFIG = existingKubeconfig("tok-manifest");

// What the observe probe sees before the plugin runs: the pool's nodes advertise nothing yet.
const ROWS_BEFORE = [nodeRow({ name: "gpu-a", uid: "u-a" }), nodeRow({ name: "gpu-b", uid: "u-b" })].join("\n");
const ROWS_AFTER = [
    nodeRow({ name: "gpu-a", uid: "u-a", allocatableShared: "4", capacityShared: "4" }),
    nodeRow({ name: "gpu-b", uid: "u-b", allocatableShared: "8", capacityShared: "8" }),
].join("\n");

const SCRIPT_STDOUT: Record<string, unknown> = {
    "existing-cluster-observe.sh": { stage: "existing-cluster-observe", clusterUid: "ks-uid-1", nodes: ROWS_BEFORE },
    "existing-device-plugin-wait.sh": { stage: "existing-device-plugin", resourceName: "nvidia.com/gpu.shared", sharesPerGpu: 4, gpuAllocatable: { "gpu-a": 4, "gpu-b": 8 } },
    "verify-gpu-nodes.sh": {
        stage: "verification-nodes", run: "r1", finishedAt: "2026-11-30T01:00:09Z", facts: ROWS_AFTER, nodes: [
            { node: "gpu-a", outcome: "complete", detail: "", verifiedAt: "2026-11-30T01:00:08Z", log: POD_LOG },
            { node: "gpu-b", outcome: "complete", detail: "", verifiedAt: "2026-11-30T01:00:08Z", log: POD_LOG },
        ],
    },
};

const mocks = programMocks({
    config: {
        cluster: { mode: "existing", kubeconfig: KUBECONFIG },
        devicePlugin: { mode: "manifest", timeoutSeconds: 150, sharing: { strategy: "timeSlicing", replicas: 4, renameByDefault: true } },
        verification: { nodeSelector: { pool: "gpu" } },
    },
    scriptStdout: SCRIPT_STDOUT,
    settleOn: "gpu-node-verification-gate",
});
const { registered, byName } = mocks;
let probes: Array<Record<string, unknown>> = [];
let program: Program;

before(async () => {
    program = await mocks.run();
    probes = mocks.invokes.filter((i) => i.token === "command:local:run").map((i) => i.inputs);
});

describe("existing mode with devicePlugin.mode manifest", () => {
    it("registers the plugin objects through the existing cluster's provider and no minikube or host step", () => {
        assert.deepEqual(registered.map((r) => `${r.type} ${r.name}`).sort(), [
            "command:local:Command existing-device-plugin-wait",
            "command:local:Command gpu-node-verification-gate",
            "command:local:Command gpu-node-verification-run",
            "kubernetes:apps/v1:DaemonSet existing-device-plugin-daemonset",
            "kubernetes:core/v1:ConfigMap existing-device-plugin-config",
            "kubernetes:core/v1:Namespace gpu-node-verification-namespace",
            "pulumi:providers:kubernetes existing-cluster-k8s",
        ]);
        for (const name of ["existing-device-plugin-config", "existing-device-plugin-daemonset"]) {
            assert.match(byName(name).provider, /existing-cluster-k8s/, `${name} goes through the existing cluster's provider`);
        }
        assert.ok(!JSON.stringify(registered.map((r) => r.inputs)).includes("minikube addons"), "no addon step");
    });

    it("the DaemonSet lands only on the GPU nodes (verification.nodeSelector) and is a valid DaemonSet", () => {
        const ds = byName("existing-device-plugin-daemonset").inputs as unknown as {
            metadata: { namespace: string }; spec: { template: { spec: Record<string, unknown> } };
        };
        const obj = { apiVersion: "apps/v1", kind: "DaemonSet", ...ds } as unknown as ConstructorParameters<typeof DaemonSet>[0];
        assert.doesNotThrow(() => new DaemonSet(obj).validate());
        assert.deepEqual(ds.spec.template.spec.nodeSelector, { pool: "gpu" });
        assert.equal(ds.metadata.namespace, "kube-system");
        const cm = byName("existing-device-plugin-config").inputs as unknown as { data: Record<string, string> };
        assert.doesNotThrow(() => new ConfigMap({ apiVersion: "v1", kind: "ConfigMap", ...cm } as unknown as ConstructorParameters<typeof ConfigMap>[0]).validate());
        assert.match(String(cm.data["config.yaml"]), /replicas: 4/);
    });

    it("the wait covers the placed nodes only, with shares per GPU and the renamed resource; nothing on destroy", () => {
        const wait = byName("existing-device-plugin-wait");
        const env = wait.inputs.environment as Record<string, unknown>;
        assert.equal(scriptOf(wait.inputs.create), "existing-device-plugin-wait.sh");
        assert.equal(wait.inputs.delete, undefined);
        assert.equal(env.GM_NODE_SELECTOR, "pool=gpu");
        assert.equal(env.GM_DAEMONSET, "gpu-minikube-nvidia-device-plugin");
        assert.equal(env.GM_RESOURCE_NAME, "nvidia.com/gpu.shared");
        assert.equal(env.GM_SHARES_PER_GPU, "4");
        assert.equal(env.GM_TIMEOUT_SECONDS, "150");
        assert.ok(!("GM_PROFILE" in env), "no minikube profile");
        assert.ok(wait.dependencies.includes(byName("existing-device-plugin-daemonset").urn), "waits after the DaemonSet is applied");
    });

    it("every node carrying the placement labels is a GPU node before it advertises anything; the verification waits for the plugin", () => {
        assert.equal(probes.length, 1);
        assert.equal((probes[0].environment as Record<string, unknown>).GM_NODE_SELECTOR, "pool=gpu");
        const run = byName("gpu-node-verification-run");
        const env = run.inputs.environment as Record<string, string>;
        assert.equal(env.GM_NODES, "gpu-a gpu-b");
        assert.equal(env.GM_NODE_SELECTOR, "pool=gpu");
        const ns = byName("gpu-node-verification-namespace");
        assert.ok(ns.dependencies.includes(byName("existing-device-plugin-wait").urn), "the namespace (and so the Jobs) come after the wait");
    });

    it("outputs: gpuAllocatable from the wait; one passing verdict per node through the shared resource", async () => {
        assert.deepEqual(await output(program.gpuAllocatable), { "gpu-a": 4, "gpu-b": 8 });
        const v = await output(program.gpuVerification);
        assert.ok("nodes" in v);
        assert.deepEqual(Object.keys(v.nodes), ["gpu-a", "gpu-b"]);
        assert.equal(v.passed, true, v.reasons.join("; "));
    });
});

describe("placement and tokens (pure)", () => {
    it("the plugin is placed by verification.nodeSelector, else by nvidia.com/gpu.present=true", async () => {
        const { pluginPlacement, selectorString } = await import("../components/existingDevicePlugin");
        assert.deepEqual(pluginPlacement({}), { "nvidia.com/gpu.present": "true" });
        assert.deepEqual(pluginPlacement({ pool: "gpu", "cloud.google.com/gke-accelerator": "nvidia-h200" }),
            { pool: "gpu", "cloud.google.com/gke-accelerator": "nvidia-h200" });
        assert.equal(selectorString({ pool: "gpu", a: "1" }), "a=1,pool=gpu");
    });

    it("the count-blind token ignores the counts the plugin brings, not a cordon", async () => {
        const { gpuNodesToken, parseNodeRows } = await import("../components/gpuNodes");
        const before = parseNodeRows(nodeRow({ name: "gpu-a", uid: "u-a", gpuPresent: "true" }));
        const after = parseNodeRows(nodeRow({ name: "gpu-a", uid: "u-a", gpuPresent: "true", allocatableGpu: "2", capacityGpu: "2" }));
        const cordoned = parseNodeRows(nodeRow({ name: "gpu-a", uid: "u-a", gpuPresent: "true", unschedulable: "true" }));
        const shared = parseNodeRows(nodeRow({ name: "gpu-a", uid: "u-a", gpuPresent: "true", allocatableShared: "8", capacityShared: "8" }));
        const blind = (n: typeof before) => gpuNodesToken("c", n, [], { counts: false });
        assert.equal(blind(before), blind(after));
        assert.equal(blind(before), blind(shared), "time-slicing's renamed resource appearing is a count too");
        assert.notEqual(blind(before), blind(cordoned));
        assert.notEqual(gpuNodesToken("c", before), gpuNodesToken("c", after), "the full token still sees the counts");
    });
});
