// The whole program under Pulumi's mocks with cluster.mode "existing" and devicePlugin.mode
// "manifest": NVIDIA's plugin (ConfigMap + DaemonSet) goes through the existing cluster's provider,
// placed on the GPU nodes only, with no minikube step; the wait covers only the placed nodes, and the
// verification waits for it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { NODE_FACT_COLUMNS } from "../components/gpuNodes";

const POD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- {name: prod, cluster: {server: "https://10.1.2.3:6443"}}
contexts:
- {name: prod-admin, context: {cluster: prod, user: admin}}
current-context: prod-admin
users:
- {name: admin, user: {token: tok-manifest}}
`;

const row = (f: Partial<Record<(typeof NODE_FACT_COLUMNS)[number], string>>): string =>
    NODE_FACT_COLUMNS.map((c) => f[c] ?? (c === "ready" ? "True" : "")).join("\t");
// What the observe probe sees before the plugin runs: the pool's nodes advertise nothing yet.
const ROWS_BEFORE = [row({ name: "gpu-a", uid: "u-a" }), row({ name: "gpu-b", uid: "u-b" })].join("\n");
const ROWS_AFTER = [
    row({ name: "gpu-a", uid: "u-a", allocatableShared: "4", capacityShared: "4" }),
    row({ name: "gpu-b", uid: "u-b", allocatableShared: "8", capacityShared: "8" }),
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

interface Registered { type: string; name: string; urn: string; inputs: Record<string, unknown>; provider: string; dependencies: string[] }
const registered: Registered[] = [];
const probes: Array<Record<string, unknown>> = [];
let program: typeof import("../index");

function scriptOf(commandLine: unknown): string {
    const m = /^bash \.\/scripts\/([a-z0-9-]+\.sh)$/.exec(String(commandLine));
    assert.ok(m, `command ${JSON.stringify(commandLine)} is not a plain script call`);
    return m[1];
}
const output = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));
const byName = (name: string): Registered => {
    const r = registered.find((x) => x.name === name);
    assert.ok(r, `${name} is registered (have: ${registered.map((x) => x.name).join(", ")})`);
    return r;
};

before(async () => {
    pulumi.runtime.setAllConfig({
        "gpu-minikube:cluster": JSON.stringify({ mode: "existing", kubeconfig: KUBECONFIG }),
        "gpu-minikube:devicePlugin": JSON.stringify({ mode: "manifest", timeoutSeconds: 150, sharing: { strategy: "timeSlicing", replicas: 4, renameByDefault: true } }),
        "gpu-minikube:verification": JSON.stringify({ nodeSelector: { pool: "gpu" } }),
    });
    await pulumi.runtime.setMocks({
        newResource(args) {
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type === "command:local:Command") {
                state.stdout = JSON.stringify(SCRIPT_STDOUT[scriptOf(args.inputs.create)]);
                state.stderr = "";
            }
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            if (args.token === "command:local:run") {
                probes.push(args.inputs);
                return { ...args.inputs, stdout: JSON.stringify(SCRIPT_STDOUT[scriptOf(args.inputs.command)]), stderr: "" };
            }
            return args.inputs;
        },
    }, "gpu-minikube", "test", false);

    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(req: RegisterRequest, cb: (err: unknown, res: unknown) => void): Promise<void>;
    };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => original(req, (err, res) => {
        if (!err && req.getCustom()) {
            registered.push({
                type: req.getType(), name: req.getName(), inputs: req.getObject().toJavaScript() as Record<string, unknown>,
                provider: req.getProvider(), dependencies: req.getDependenciesList(),
                urn: (res as { getUrn(): string } | undefined)?.getUrn() ?? "",
            });
        }
        cb(err, res);
    });

    program = await import("../index");
    await output(program.gpuVerification);
    await output(program.gpuAllocatable);
    for (let i = 0; i < 200 && !registered.some((r) => r.name === "gpu-node-verification-gate"); i++) await new Promise((r) => setTimeout(r, 10));
});

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getCustom(): boolean;
    getProvider(): string;
    getDependenciesList(): string[];
    getObject(): { toJavaScript(): unknown };
}

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
        const before = parseNodeRows(row({ name: "gpu-a", uid: "u-a", gpuPresent: "true" }));
        const after = parseNodeRows(row({ name: "gpu-a", uid: "u-a", gpuPresent: "true", allocatableGpu: "2", capacityGpu: "2" }));
        const cordoned = parseNodeRows(row({ name: "gpu-a", uid: "u-a", gpuPresent: "true", unschedulable: "true" }));
        const shared = parseNodeRows(row({ name: "gpu-a", uid: "u-a", gpuPresent: "true", allocatableShared: "8", capacityShared: "8" }));
        const blind = (n: typeof before) => gpuNodesToken("c", n, [], { counts: false });
        assert.equal(blind(before), blind(after));
        assert.equal(blind(before), blind(shared), "time-slicing's renamed resource appearing is a count too");
        assert.notEqual(blind(before), blind(cordoned));
        assert.notEqual(gpuNodesToken("c", before), gpuNodesToken("c", after), "the full token still sees the counts");
    });
});
