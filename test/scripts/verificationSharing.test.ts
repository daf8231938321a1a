// verification-sharing.sh on the simulated cluster: every pod's container times, log and the
// scheduler's reasons reach the summary, and the summary feeds the verdict.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { evaluateSharing, toSharingPods } from "../../components/sharingVerdict";
import { SimHost, simEvent, summaryOf, useKubeSim, writeKubeObjects, writePodLog } from "../harness/simHost";

const NS = "gpu-minikube-verification-1a2b3c4d";
const JOB = "gpu-verify-0123456789";
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://192.168.49.2:8443\n";
const LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200 = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

function jobPod(name: string, state: "done" | "running" | "pending", start = "", end = ""): object {
    const containerState = state === "done" ? { terminated: { exitCode: 0, reason: "Completed", startedAt: start, finishedAt: end } }
        : state === "running" ? { running: { startedAt: start } } : { waiting: { reason: "ContainerCreating" } };
    return {
        apiVersion: "v1", kind: "Pod",
        metadata: { name, namespace: NS, labels: { "job-name": JOB } },
        spec: state === "pending" ? {} : { nodeName: "minikube" },
        status: {
            phase: state === "done" ? "Succeeded" : state === "running" ? "Running" : "Pending",
            conditions: [state === "pending"
                ? { type: "PodScheduled", status: "False", reason: "Unschedulable", message: UNSCHEDULABLE }
                : { type: "PodScheduled", status: "True" }],
            ...(state === "pending" ? {} : { containerStatuses: [{ name: "nvidia-smi", state: containerState }] }),
        },
    };
}

let host: SimHost;
beforeEach(() => {
    host = SimHost.create({ standins: [] });
    useKubeSim(host);
});
afterEach(() => host.cleanup());

const env = (extra: Record<string, string> = {}) => ({
    GM_KUBECONFIG: KUBECONFIG, GM_NAMESPACE: NS, GM_JOB_NAME: JOB, GM_TIMEOUT_SECONDS: "20", ...extra,
});

describe("verification-sharing.sh", () => {
    it("reports every pod's container times and log, and the verdict passes for pods that overlapped", async () => {
        const pods = ["a", "b", "c"].map((s, i) => jobPod(`${JOB}-${s}`, "done", `2026-11-30T01:20:0${i}Z`, `2026-11-30T01:20:0${6 + i}Z`));
        writeKubeObjects(host, { pods });
        for (const s of ["a", "b", "c"]) writePodLog(host, NS, `${JOB}-${s}`, LOG);
        const run = await host.runScript("verification-sharing.sh", env());
        assert.equal(run.code, 0, run.stderr);
        const summary = summaryOf(run);
        assert.equal(summary.stage, "verification-sharing");
        const evidence = toSharingPods(summary);
        assert.deepEqual(evidence.pods.map((p) => [p.name, p.phase, p.node, p.startedAt, p.finishedAt, p.unschedulable]), [
            [`${JOB}-a`, "Succeeded", "minikube", "2026-11-30T01:20:00Z", "2026-11-30T01:20:06Z", null],
            [`${JOB}-b`, "Succeeded", "minikube", "2026-11-30T01:20:01Z", "2026-11-30T01:20:07Z", null],
            [`${JOB}-c`, "Succeeded", "minikube", "2026-11-30T01:20:02Z", "2026-11-30T01:20:08Z", null],
        ]);
        assert.equal(evidence.pods[0].log, LOG, "the whole log, final newline kept");
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: 3, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence });
        assert.equal(verdict.passed, true, verdict.reasons.join("\n"));
        assert.equal(verdict.concurrentPods, 3);
        assert.equal(verdict.overlapSeconds, 4);
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
    });

    it("a pod Pending now, and one that waited earlier: both with the scheduler's reason", async () => {
        writeKubeObjects(host, {
            pods: [jobPod(`${JOB}-a`, "running", "2026-11-30T01:20:00Z"), jobPod(`${JOB}-b`, "pending"), jobPod(`${JOB}-c`, "done", "2026-11-30T01:20:09Z", "2026-11-30T01:20:15Z")],
            events: [
                simEvent(NS, "Pod", `${JOB}-c`, "Warning", "FailedScheduling", UNSCHEDULABLE),
                simEvent(NS, "Pod", "someone-elses-pod", "Warning", "FailedScheduling", "not ours"),
                simEvent(NS, "Pod", `${JOB}-a`, "Normal", "Scheduled", "Successfully assigned"),
            ],
        });
        writePodLog(host, NS, `${JOB}-a`, LOG);
        writePodLog(host, NS, `${JOB}-c`, LOG);
        const run = await host.runScript("verification-sharing.sh", env());
        assert.equal(run.code, 0, run.stderr);
        const evidence = toSharingPods(summaryOf(run));
        assert.deepEqual(evidence.pods.find((p) => p.name === `${JOB}-b`), {
            name: `${JOB}-b`, phase: "Pending", node: null, startedAt: null, finishedAt: null, unschedulable: UNSCHEDULABLE, log: "",
        });
        assert.deepEqual(evidence.failedScheduling, [{ pod: `${JOB}-c`, message: UNSCHEDULABLE }]);
        const verdict = evaluateSharing({ strategy: "timeSlicing", replicas: 3, resourceName: "nvidia.com/gpu", hostGpuUuids: [H200], ...evidence },
            Date.parse("2026-11-30T01:20:20Z"));
        assert.equal(verdict.passed, false);
        assert.deepEqual(verdict.pendingPods.map((p) => p.pod).sort(), [`${JOB}-b`, `${JOB}-c`]);
        assert.match(verdict.reasons.join("\n"), /Insufficient nvidia\.com\/gpu/);
    });

    it("no pods: an error that says what to do", async () => {
        writeKubeObjects(host, { pods: [] });
        const run = await host.runScript("verification-sharing.sh", env());
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: Job gpu-minikube-verification-1a2b3c4d\/gpu-verify-0123456789 has no pods/);
    });

    for (const [key, value] of [["GM_NAMESPACE", "a;b"], ["GM_JOB_NAME", "$(id)"], ["GM_TIMEOUT_SECONDS", "x"]]) {
        it(`rejects ${key}=${JSON.stringify(value)} before any command`, async () => {
            const run = await host.runScript("verification-sharing.sh", env({ [key]: value }));
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }
});
