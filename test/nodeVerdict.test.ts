// Per-node facts and verdicts for existing clusters (components/gpuNodes.ts, components/nodeVerdict.ts).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { gpuNodes, gpuNodesToken, NODE_FACT_COLUMNS, NodeFacts, parseNodeRows } from "../components/gpuNodes";
import { evaluateNode, gfdProductName, NodeRun, summarizeNodes } from "../components/nodeVerdict";

const H200_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "h200b-verification-command.txt"), "utf8");
type Row = Partial<Record<(typeof NODE_FACT_COLUMNS)[number], string>>;
const row = (f: Row) => NODE_FACT_COLUMNS.map((c) => f[c] ?? (c === "ready" ? "True" : "")).join("\t");
const facts = (f: Row): NodeFacts => parseNodeRows(row({ name: "n1", uid: "u1", ...f }))[0];
const run = (r: Partial<NodeRun>): NodeRun => ({ node: "n1", outcome: "complete", detail: "", log: H200_LOG, verifiedAt: "2026-11-30T01:00:00Z", ...r });
const driverOf = (log: string) => /Driver Version: ([0-9.]+)/.exec(log)?.[1] ?? "";

describe("node facts", () => {
    it("a GPU node advertises the resource (even 0) or carries nvidia.com/gpu.present=true; a CPU node does not", () => {
        const nodes = parseNodeRows([
            row({ name: "b", allocatableGpu: "0", capacityGpu: "2" }),
            row({ name: "a", allocatableGpu: "8", capacityGpu: "8" }),
            row({ name: "gfd", gpuPresent: "true" }),
            row({ name: "cpu" }),
            "garbage line",
        ].join("\n"));
        assert.deepEqual(gpuNodes(nodes).map((n) => n.name), ["a", "b", "gfd"]);
        assert.equal(nodes.find((n) => n.name === "b")?.allocatable, 0);
        assert.equal(nodes.find((n) => n.name === "b")?.capacity, 2);
    });
    it("a node that only advertises shares is verified through nvidia.com/gpu.shared", () => {
        const n = facts({ allocatableShared: "4", capacityShared: "4" });
        assert.equal(n.resourceName, "nvidia.com/gpu.shared");
        assert.equal(n.allocatable, 4);
        assert.equal(facts({ allocatableGpu: "1", allocatableShared: "4" }).resourceName, "nvidia.com/gpu");
    });
    it("driver version from GFD labels: full, else major.minor.rev; hostname falls back to the name", () => {
        assert.equal(facts({ driverFull: "580.159.04" }).driverVersion, "580.159.04");
        assert.equal(facts({ driverMajor: "580", driverMinor: "159", driverRev: "04" }).driverVersion, "580.159.04");
        assert.equal(facts({}).driverVersion, null);
        assert.equal(facts({}).hostname, "n1");
        assert.equal(facts({ hostname: "host-1" }).hostname, "host-1");
    });
    it("the re-verify token follows GPU nodes' facts and ignores CPU nodes", () => {
        const base = [row({ name: "g", uid: "1", allocatableGpu: "1" }), row({ name: "c", uid: "2" })];
        const t = gpuNodesToken("ks", parseNodeRows(base.join("\n")));
        assert.equal(gpuNodesToken("ks", parseNodeRows([base[0], row({ name: "c", uid: "3" })].join("\n"))), t);
        assert.notEqual(gpuNodesToken("ks", parseNodeRows([row({ name: "g", uid: "1", allocatableGpu: "0" }), base[1]].join("\n"))), t);
        assert.notEqual(gpuNodesToken("ks", parseNodeRows([row({ name: "g", uid: "1", allocatableGpu: "1", unschedulable: "true" }), base[1]].join("\n"))), t);
        assert.notEqual(gpuNodesToken("ks2", parseNodeRows(base.join("\n"))), t, "another cluster");
        const retry = gpuNodesToken("ks", parseNodeRows(base.join("\n")), ["r1a2b-incomplete"]);
        assert.notEqual(retry, t, "an incomplete run is retried");
        assert.notEqual(gpuNodesToken("ks", parseNodeRows(base.join("\n")), ["r9f9f-incomplete"]), retry, "and again while it keeps failing");
    });
});

describe("node verdicts (no host preflight: compared with what the node advertises)", () => {
    it("passes on the recorded H200 log, with or without GFD labels that agree", () => {
        for (const f of [{}, { product: "NVIDIA-H200", driverFull: driverOf(H200_LOG) }, { product: "NVIDIA-H200-SHARED" }]) {
            const v = evaluateNode(facts({ allocatableGpu: "1", capacityGpu: "1", ...f }), run({}), 1);
            assert.equal(v.passed, true, v.reasons.join("; "));
            assert.equal(v.gpus.length, 1);
            assert.equal(v.verifiedAt, "2026-11-30T01:00:00Z");
        }
    });
    it("fails when GFD's product or driver labels disagree with the pod", () => {
        const v = evaluateNode(facts({ allocatableGpu: "1", capacityGpu: "1", product: "NVIDIA-A100-SXM4-40GB", driverFull: "575.57.08" }), run({}), 1);
        assert.equal(v.passed, false);
        assert.match(v.reasons.join("\n"), /is a NVIDIA H200, but the node's nvidia\.com\/gpu\.product label says NVIDIA-A100-SXM4-40GB/);
        assert.match(v.reasons.join("\n"), /differs from the node's driver labels \(575\.57\.08\)/);
    });
    it("fails when the pod saw fewer GPUs than asked, or more than the node has", () => {
        assert.match(evaluateNode(facts({ allocatableGpu: "2", capacityGpu: "2" }), run({}), 2).reasons[0], /saw 1 GPU\(s\); verification\.gpus requires at least 2/);
        const twoGpuLog = `${H200_LOG}\n1, NVIDIA H200, GPU-00000000-0000-0000-0000-000000000001, ${driverOf(H200_LOG)}, 143771 MiB, 00000000:00:07.0\n`;
        assert.match(evaluateNode(facts({ allocatableGpu: "1", capacityGpu: "1" }), run({ log: twoGpuLog }), 1).reasons.join("\n"), /advertises a capacity of 1/);
    });
    it("an unfit node gets its own reason", () => {
        const skipped = run({ outcome: "skipped", log: "" });
        assert.match(evaluateNode(facts({ allocatableGpu: "1", unschedulable: "true" }), skipped, 1).reasons[0], /cordoned.*kubectl uncordon n1/);
        assert.match(evaluateNode(facts({ allocatableGpu: "1", ready: "False" }), skipped, 1).reasons[0], /not Ready \(Ready=False\)/);
        assert.match(evaluateNode(facts({ allocatableGpu: "0", capacityGpu: "8" }), skipped, 1).reasons[0], /advertises 0 allocatable nvidia\.com\/gpu \(capacity 8\)/);
        assert.match(evaluateNode(undefined, run({ outcome: "absent" }), 1).reasons[0], /no longer in the cluster/);
    });
    it("a failed, stuck or timed-out Job reports Kubernetes' own words", () => {
        const f = facts({ allocatableGpu: "1" });
        assert.match(evaluateNode(f, run({ outcome: "failed", detail: "BackoffLimitExceeded (exit 9)", log: "" }), 1).reasons[0], /^the verification Job failed: BackoffLimitExceeded \(exit 9\)/);
        assert.match(evaluateNode(f, run({ outcome: "stuck", detail: "pod p Unschedulable: 0/3 nodes", log: "" }), 1).reasons[0], /^the verification pod could not start: pod p Unschedulable/);
        assert.match(evaluateNode(f, run({ outcome: "timeout", detail: "x", log: "" }), 1).reasons[0], /did not finish before verification\.timeoutSeconds/);
    });
    it("GFD spells product names with dashes", () => {
        assert.equal(gfdProductName("NVIDIA H200"), "NVIDIA-H200");
        assert.equal(gfdProductName("Tesla V100-SXM2-16GB"), "Tesla-V100-SXM2-16GB");
    });
});

describe("the cluster verdict", () => {
    const ctx = { minGpus: 1, image: "img", clusterIncarnation: "x", nodeSelector: {}, now: "2026-11-30T00:00:00Z" };
    it("passes only when every GPU node passed", () => {
        const f = parseNodeRows([row({ name: "a", allocatableGpu: "1" }), row({ name: "b", allocatableGpu: "0", capacityGpu: "1" })].join("\n"));
        const ok = summarizeNodes(f, [run({ node: "a" })], ctx);
        assert.equal(ok.passed, true, ok.reasons.join("; "));
        const bad = summarizeNodes(f, [run({ node: "a", verifiedAt: "2026-11-30T01:00:05Z" }), run({ node: "b", outcome: "skipped", log: "" })], ctx);
        assert.equal(bad.passed, false);
        assert.equal(bad.nodes.a.passed, true);
        assert.match(bad.reasons[0], /^node b: node advertises 0 allocatable/);
        assert.equal(bad.verifiedAt, "2026-11-30T01:00:05Z");
    });
    it("no GPU node is a failure that says where it looked", () => {
        const none = summarizeNodes([], [], { ...ctx, nodeSelector: { pool: "gpu" } });
        assert.equal(none.passed, false);
        assert.match(none.reasons[0], /^no GPU node found among the nodes labelled pool=gpu \(verification\.nodeSelector\)/);
        assert.equal(none.verifiedAt, ctx.now);
    });
    it("a problem the device plugin wait found fails that node first, even if its Job completed; other nodes and unplanned names are untouched", () => {
        const f = parseNodeRows([row({ name: "a", allocatableGpu: "1" }), row({ name: "b", allocatableGpu: "1" })].join("\n"));
        const why = "advertises 1 nvidia.com/gpu, expected 2, after 300s; plugin pod p-b: Running restarts=0";
        const r = summarizeNodes(f, [run({ node: "a" }), run({ node: "b" })], { ...ctx, nodeProblems: { b: why, gone: "not in the run" } });
        assert.equal(r.nodes.a.passed, true, r.nodes.a.reasons.join("; "));
        assert.equal(r.nodes.b.passed, false);
        assert.deepEqual(r.nodes.b.reasons, [`the device plugin did not bring this node's GPUs within devicePlugin.timeoutSeconds: ${why}`]);
        assert.equal(r.nodes.b.driverVersion, driverOf(H200_LOG), "what the pod saw is still reported");
        assert.deepEqual(Object.keys(r.nodes), ["a", "b"]);
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, [`node b: the device plugin did not bring this node's GPUs within devicePlugin.timeoutSeconds: ${why}`]);
    });
});
