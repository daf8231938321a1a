// The whole program under Pulumi's mocks with cluster.mode "existing" and devicePlugin.mode
// "manifest" when one placed node is still short at the plugin wait's deadline (NotReady, no plugin
// pod): the wait step succeeds naming it, the verification still runs and gives every node its
// verdict (the short node failing with the wait's reason), gpuVerification records passed=false, and
// the gate step gets passed=false with that node's reasons, so `pulumi up` fails after the outputs
// are recorded (as with devicePlugin.mode none and a node at 0 GPUs).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, it } from "node:test";
import { existingKubeconfig, nodeRow, output, Program, programMocks, unsecret } from "./harness/programMocks";

const POD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const KUBECONFIG = existingKubeconfig("tok-short");
const SHORT = "node not Ready (Unknown); advertises no nvidia.com/gpu, expected a non-zero multiple of 1, after 300s; no plugin pod on this node";

const STDOUT: Record<string, unknown> = {
    "existing-cluster-observe.sh": {
        stage: "existing-cluster-observe", clusterUid: "ks-uid-2",
        nodes: [nodeRow({ name: "gpu-a", uid: "u-a" }), nodeRow({ name: "gpu-b", uid: "u-b", ready: "Unknown" })].join("\n"),
    },
    "existing-device-plugin-wait.sh": {
        stage: "existing-device-plugin", resourceName: "nvidia.com/gpu", sharesPerGpu: 1,
        gpuAllocatable: { "gpu-a": 2, "gpu-b": 0 }, short: { "gpu-b": SHORT },
    },
    "verify-gpu-nodes.sh": {
        stage: "verification-nodes", run: "r2", finishedAt: "2026-11-30T02:00:09Z",
        facts: [nodeRow({ name: "gpu-a", uid: "u-a", allocatableGpu: "2", capacityGpu: "2" }), nodeRow({ name: "gpu-b", uid: "u-b", ready: "Unknown" })].join("\n"),
        nodes: [
            { node: "gpu-a", outcome: "complete", detail: "", verifiedAt: "2026-11-30T02:00:08Z", log: POD_LOG },
            { node: "gpu-b", outcome: "skipped", detail: "unschedulable=false ready=Unknown allocatable=0", verifiedAt: "2026-11-30T02:00:01Z", log: "" },
        ],
    },
    "verification-gate.sh": { stage: "verification-gate", passed: false },
};

const mocks = programMocks({
    config: { cluster: { mode: "existing", kubeconfig: KUBECONFIG }, devicePlugin: { mode: "manifest" } },
    scriptStdout: STDOUT,
    settleOn: "gpu-node-verification-gate",
});
let program: Program;
/** A command's environment without Pulumi's secret wrapper (it holds the kubeconfig). */
const envOf = (name: string): Record<string, string> => unsecret(mocks.command(name).inputs.environment) as Record<string, string>;

before(async () => {
    program = await mocks.run();
});

it("the verification still runs on every placed node, the short one included", () => {
    const env = envOf("gpu-node-verification-run");
    assert.equal(env.GM_NODES, "gpu-a gpu-b");
    assert.match(env.GM_NODES_TOKEN, /:\{"gpu-a":2,"gpu-b":0\}:\{"gpu-b":"node not Ready/, "a change of the short nodes re-verifies");
});

it("gpuVerification: the ready node passes, the short node fails with the wait's reason first, top-level passed false", async () => {
    assert.deepEqual(await output(program.gpuAllocatable), { "gpu-a": 2, "gpu-b": 0 });
    const v = await output(program.gpuVerification);
    assert.ok("nodes" in v);
    assert.deepEqual(Object.keys(v.nodes), ["gpu-a", "gpu-b"]);
    assert.equal(v.nodes["gpu-a"].passed, true, v.nodes["gpu-a"].reasons.join("; "));
    assert.equal(v.nodes["gpu-b"].passed, false);
    assert.equal(v.nodes["gpu-b"].reasons[0], `the device plugin did not bring this node's GPUs within devicePlugin.timeoutSeconds: ${SHORT}`);
    assert.match(v.nodes["gpu-b"].reasons[1], /^node is not Ready \(Ready=Unknown\)/);
    assert.equal(v.passed, false);
    assert.ok(v.reasons.every((r) => r.startsWith("node gpu-b: ")), v.reasons.join("; "));
});

it("the gate step gets passed=false and the short node's reasons, so `pulumi up` fails after the outputs are recorded", async () => {
    const env = envOf("gpu-node-verification-gate");
    assert.equal(env.GM_PASSED, "false");
    assert.match(env.GM_REASONS, /^node gpu-b: the device plugin did not bring this node's GPUs within devicePlugin\.timeoutSeconds: node not Ready \(Unknown\)/);
    assert.doesNotMatch(env.GM_REASONS, /gpu-a/);
});
