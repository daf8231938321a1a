// The whole program under Pulumi's mocks with cluster.mode "existing": nothing for this host or
// minikube is registered, every command only talks to the cluster through the configured
// kubeconfig, the provider uses that kubeconfig and context, and gpuVerification has one verdict
// per GPU node.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Job } from "kubernetes-models/batch/v1";
import { instantiateNodeJob } from "../components/nodeJob";
import { nodeRow, output, Program, programMocks, scriptOf, unsecret } from "./harness/programMocks";

const POD_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const TOKEN = "tok-existing-7f3a";
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- {name: prod, cluster: {server: "https://10.1.2.3:6443"}}
- {name: other, cluster: {server: "https://10.9.9.9:6443"}}
contexts:
- {name: prod-admin, context: {cluster: prod, user: admin}}
- {name: other-admin, context: {cluster: other, user: admin}}
current-context: other-admin
users:
- {name: admin, user: {token: ${TOKEN}}}
`;

const ROWS = [
    nodeRow({ name: "gpu-a", uid: "u-a", allocatableGpu: "1", capacityGpu: "1", product: "NVIDIA-H200", driverFull: "580.159.04" }),
    nodeRow({ name: "gpu-b", uid: "u-b", allocatableGpu: "0", capacityGpu: "2" }),
    nodeRow({ name: "cpu-1", uid: "u-c" }),
].join("\n");

const SCRIPT_STDOUT: Record<string, unknown> = {
    "existing-cluster-observe.sh": { stage: "existing-cluster-observe", clusterUid: "ks-uid-1", nodes: ROWS },
    "verify-gpu-nodes.sh": {
        stage: "verification-nodes", run: "r1", finishedAt: "2026-11-30T01:00:09Z", facts: ROWS, nodes: [
            { node: "gpu-a", outcome: "complete", detail: "", verifiedAt: "2026-11-30T01:00:08Z", log: POD_LOG },
            { node: "gpu-b", outcome: "skipped", detail: "allocatable=0", verifiedAt: "2026-11-30T01:00:01Z", log: "" },
        ],
    },
};

const mocks = programMocks({
    config: {
        cluster: { mode: "existing", kubeconfig: KUBECONFIG, context: "prod-admin" },
        verification: { gpus: 1, timeoutSeconds: 240, parallelism: 7, nodeSelector: { "pool": "gpu" } },
    },
    scriptStdout: SCRIPT_STDOUT,
    // The gate is registered once the verification result is known: wait for its registration too.
    settleOn: "gpu-node-verification-gate",
});
const { registered, invokes } = mocks;
let program: Program;

before(async () => {
    program = await mocks.run();
});

describe("existing mode: nothing on this machine", () => {
    it("registers no host-prep, minikube, docker or addon resource", () => {
        const types = registered.map((r) => `${r.type} ${r.name}`);
        assert.deepEqual(types.sort(), [
            "command:local:Command gpu-node-verification-gate",
            "command:local:Command gpu-node-verification-run",
            "kubernetes:core/v1:Namespace gpu-node-verification-namespace",
            "pulumi:providers:kubernetes existing-cluster-k8s",
        ]);
    });

    it("every command and probe is a kubectl-only script given the configured cluster's kubeconfig", () => {
        // The only scripts allowed here: they run kubectl against the cluster and nothing else (the gate
        // prints the recorded verdict and, when it failed, marks the run incomplete on our namespace).
        const clusterOnly = new Set(["existing-cluster-observe.sh", "verify-gpu-nodes.sh", "verification-gate.sh"]);
        const commands = registered.filter((r) => r.type === "command:local:Command");
        const probes = invokes.filter((i) => i.token === "command:local:run");
        assert.equal(probes.length, 1);
        for (const c of commands) {
            assert.ok(clusterOnly.has(scriptOf(c.inputs.create)), c.name);
            assert.equal(c.inputs.delete, undefined, "destroy runs nothing on this machine");
            assert.deepEqual(c.secretInputPaths.filter((p) => p.includes("GM_KUBECONFIG")), ["environment.GM_KUBECONFIG"]);
        }
        for (const p of probes) {
            assert.ok(clusterOnly.has(scriptOf(p.inputs.command)));
            const env = p.inputs.environment as Record<string, unknown>;
            assert.match(String(unsecret(env.GM_KUBECONFIG)), /current-context: prod-admin/);
            assert.equal(env.GM_NODE_SELECTOR, "pool=gpu");
        }
        assert.ok(!invokes.some((i) => /minikube|preflight|docker/.test(JSON.stringify(i.inputs))), "no host probe");
    });

    it("the provider uses the configured kubeconfig and context, identified by the API server", () => {
        const provider = registered.find((r) => r.type === "pulumi:providers:kubernetes");
        assert.ok(provider);
        assert.ok(provider.secretInputPaths.includes("kubeconfig"), "the kubeconfig stays secret");
        const kubeconfig = String(unsecret(provider.inputs.kubeconfig));
        assert.ok(kubeconfig.includes(TOKEN));
        assert.match(kubeconfig, /^current-context: prod-admin$/m);
        assert.equal(provider.inputs.context, "prod-admin");
        assert.equal(provider.inputs.clusterIdentifier, "existing:https://10.1.2.3:6443");
        assert.notEqual(provider.inputs.deleteUnreachable, "true", "an unreachable real cluster must not drop our objects from state");
        const ns = registered.find((r) => r.type === "kubernetes:core/v1:Namespace");
        assert.ok(ns && ns.provider.includes("existing-cluster-k8s"), "objects go through the explicit provider");
    });
});

describe("existing mode: per-node verification", () => {
    const env = () => registered.find((r) => r.name === "gpu-node-verification-run")?.inputs.environment as Record<string, string>;

    it("plans the GPU nodes only (a 0-allocatable GPU node included, the CPU node not)", () => {
        assert.equal(env().GM_NODES, "gpu-a gpu-b");
        assert.equal(env().GM_PARALLELISM, "7");
        assert.equal(env().GM_TIMEOUT_SECONDS, "240");
        assert.equal(env().GM_NODE_SELECTOR, "pool=gpu");
        assert.match(env().GM_NODES_TOKEN, /^[0-9a-f]{16}$/);
    });

    it("the namespace is per cluster incarnation (kube-system uid)", () => {
        const ns = registered.find((r) => r.type === "kubernetes:core/v1:Namespace");
        assert.match(String((ns?.inputs.metadata as Record<string, unknown>).name), /^gpu-minikube-verification-[0-9a-f]{8}$/);
        assert.equal(env().GM_NAMESPACE, (ns?.inputs.metadata as Record<string, unknown>).name);
    });

    it("the Job template, filled in as the script does, is a valid Job pinned to its node", () => {
        const job = instantiateNodeJob(env().GM_JOB_TEMPLATE, {
            job: "gpu-verify-r1-0", node: "gpu-a", hostname: "gpu-a", resource: "nvidia.com/gpu", run: "r1",
        }) as ConstructorParameters<typeof Job>[0];
        assert.doesNotThrow(() => new Job(job).validate());
        const spec = (job as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec;
        assert.deepEqual(spec.affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{
            matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["gpu-a"] }],
            matchFields: [{ key: "metadata.name", operator: "In", values: ["gpu-a"] }],
        }] } } });
        assert.doesNotMatch(env().GM_JOB_TEMPLATE, /\n/, "one line, as the script requires");
    });

    it("gpuVerification: one verdict per GPU node; top-level passed false when one fails", async () => {
        const v = await output(program.gpuVerification);
        assert.ok("nodes" in v && !("node" in v));
        assert.deepEqual(Object.keys(v.nodes), ["gpu-a", "gpu-b"]);
        assert.equal(v.nodes["gpu-a"].passed, true, v.nodes["gpu-a"].reasons.join("; "));
        assert.equal(v.nodes["gpu-a"].driverVersion, "580.159.04");
        assert.equal(v.nodes["gpu-a"].verifiedAt, "2026-11-30T01:00:08Z");
        assert.equal(v.nodes["gpu-b"].passed, false);
        assert.match(v.nodes["gpu-b"].reasons[0], /advertises 0 allocatable nvidia\.com\/gpu \(capacity 2\)/);
        assert.equal(v.passed, false);
        assert.match(v.reasons[0], /^node gpu-b: /);
        const ns = registered.find((r) => r.type === "kubernetes:core/v1:Namespace");
        assert.equal(v.clusterIncarnation, String((ns?.inputs.metadata as Record<string, unknown>).name).split("-").pop());
        assert.equal(await pulumi.isSecret(program.gpuVerification), false);
    });

    it("a failed node is recorded and then fails `up` through the gate, with the node's reason", () => {
        const gate = registered.find((r) => r.name === "gpu-node-verification-gate");
        assert.ok(gate);
        const env = gate.inputs.environment as Record<string, string>;
        assert.equal(env.GM_PASSED, "false");
        assert.match(env.GM_REASONS, /^node gpu-b: node advertises 0 allocatable/);
        // The run to mark incomplete on our namespace, so the next up verifies again.
        assert.equal(env.GM_RUN, "r1");
        assert.match(env.GM_NAMESPACE, /^gpu-minikube-verification-[0-9a-f]{8}$/);
        assert.deepEqual(gate.secretInputPaths, ["environment.GM_KUBECONFIG"]);
    });

    it("outputs: no profile, hostPrep or dockerGpuCheck; gpuAllocatable of the GPU nodes", async () => {
        assert.equal(program.profile, undefined);
        assert.equal(program.hostPrep, undefined);
        assert.equal(program.dockerGpuCheck, undefined);
        assert.deepEqual(await output(program.gpuAllocatable), { "gpu-a": 1, "gpu-b": 0 });
        assert.equal(await pulumi.isSecret(program.kubeconfig), true);
    });
});
