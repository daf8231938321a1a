// The GPU-sharing verdict from pods' recorded container times and logs (no clock, no sleeps).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { evaluateSharing, maxConcurrent, SharingPodEvidence, toSharingPods } from "../components/sharingVerdict";

const LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200 = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const OTHER = "GPU-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
const withUuid = (uuid: string) => LOG.split(H200).join(uuid);

function pod(name: string, start: string | null, end: string | null, extra: Partial<SharingPodEvidence> = {}): SharingPodEvidence {
    return {
        name, phase: end ? "Succeeded" : start ? "Running" : "Pending", node: start ? "minikube" : null,
        startedAt: start === null ? null : `2026-11-30T01:20:${start}Z`, finishedAt: end === null ? null : `2026-11-30T01:20:${end}Z`,
        unschedulable: null, log: start ? LOG : "", ...extra,
    };
}

const base = { strategy: "timeSlicing", replicas: 4, resourceName: "nvidia.com/gpu", failedScheduling: [], hostGpuUuids: [H200] };

describe("maxConcurrent", () => {
    it("counts the most intervals sharing one instant; touching ends do not overlap", () => {
        assert.equal(maxConcurrent([]), 0);
        assert.equal(maxConcurrent([[0, 5], [1, 6], [2, 7], [3, 8]]), 4);
        assert.equal(maxConcurrent([[0, 1], [1, 2], [2, 3]]), 1);
        assert.equal(maxConcurrent([[0, 3], [1, 2], [2, 4]]), 2);
        assert.equal(maxConcurrent([[5, 5]]), 0, "an empty interval ran no time");
    });
});

describe("evaluateSharing", () => {
    it("four pods holding a share at once on the host's one GPU: passes, with the common window", () => {
        const r = evaluateSharing({ ...base, pods: [pod("a", "01", "07"), pod("b", "02", "08"), pod("c", "02", "07"), pod("d", "03", "09")] });
        assert.deepEqual(r, {
            strategy: "timeSlicing", replicas: 4, resourceName: "nvidia.com/gpu", concurrentPods: 4, sameGpu: true,
            overlapSeconds: 4, pendingPods: [], passed: true, reasons: [],
        });
    });

    it("pods that ran one after another did not share: fails, saying how many ran at once", () => {
        const r = evaluateSharing({ ...base, pods: [pod("a", "01", "06"), pod("b", "06", "11"), pod("c", "11", "16"), pod("d", "16", "21")] });
        assert.equal(r.passed, false);
        assert.equal(r.concurrentPods, 1);
        assert.equal(r.overlapSeconds, 0);
        assert.equal(r.sameGpu, true);
        assert.match(r.reasons.join("\n"), /at most 1 of 4 pods ran at the same time/);
    });

    it("one more pod than shares: the Pending pod and the scheduler's reason are reported", () => {
        const msg = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        const pods = [pod("a", "01", null), pod("b", "01", null), pod("c", "02", null), pod("d", "02", null),
            pod("e", null, null, { unschedulable: msg })];
        const r = evaluateSharing({ ...base, pods }, Date.parse("2026-11-30T01:20:09Z"));
        assert.equal(r.passed, false);
        assert.deepEqual(r.pendingPods, [{ pod: "e", reason: msg }]);
        assert.equal(r.concurrentPods, 4);
        assert.match(r.reasons[0], /^pod e was Pending: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu/);
    });

    it("a pod that waited and ran later is still reported, from the FailedScheduling event", () => {
        const r = evaluateSharing({
            ...base,
            pods: [pod("a", "01", "07"), pod("b", "01", "07"), pod("c", "02", "08"), pod("d", "07", "13")],
            failedScheduling: [{ pod: "d", message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.shared." }],
        });
        assert.equal(r.passed, false);
        assert.deepEqual(r.pendingPods, [{ pod: "d", reason: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.shared." }]);
        assert.equal(r.concurrentPods, 3);
    });

    it("a GPU that is not the host's, or different GPUs on a one-GPU host, fails", () => {
        const foreign = evaluateSharing({ ...base, replicas: 2, pods: [pod("a", "01", "07", { log: withUuid(OTHER) }), pod("b", "01", "07", { log: withUuid(OTHER) })] });
        assert.equal(foreign.passed, false);
        assert.equal(foreign.sameGpu, false);
        assert.match(foreign.reasons.join("\n"), /pod a saw GPU-0b1c.*not one of the host's GPUs/);
        const split = evaluateSharing({ ...base, replicas: 2, pods: [pod("a", "01", "07"), pod("b", "01", "07", { log: withUuid(OTHER) })] });
        assert.equal(split.passed, false);
        assert.match(split.reasons.join("\n"), /no two pods saw the same GPU/);
    });

    it("two host GPUs: shares spread over both still prove sharing when a GPU served two pods", () => {
        const hostGpuUuids = [H200, OTHER];
        const pods = [pod("a", "01", "07"), pod("b", "01", "07"), pod("c", "01", "07", { log: withUuid(OTHER) }), pod("d", "01", "07", { log: withUuid(OTHER) })];
        const r = evaluateSharing({ ...base, hostGpuUuids, pods });
        assert.equal(r.passed, true, r.reasons.join("\n"));
        assert.equal(r.sameGpu, false);
        assert.equal(r.concurrentPods, 4);
    });

    it("a pod with no GPU in its log, or fewer pods than shares, fails", () => {
        const r = evaluateSharing({ ...base, replicas: 3, pods: [pod("a", "01", "07"), pod("b", "01", "07", { log: "" })] });
        assert.equal(r.passed, false);
        assert.match(r.reasons.join("\n"), /the Job has 2 pod\(s\); sharing verification runs 3/);
        assert.match(r.reasons.join("\n"), /pod b saw 0 GPUs/);
    });
});

describe("recorded on a real H200: the sharing command run 4 times at once", () => {
    // test/fixtures/nvidia-smi/h200d-sharing: real logs and measured start/finish times. The kubelet
    // records container times to the second, so they are cut to seconds as it would show them.
    const dir = path.join(__dirname, "fixtures", "nvidia-smi", "h200d-sharing");
    const hostUuid = /UUID: (GPU-[0-9a-f-]+)\)/.exec(fs.readFileSync(path.join(dir, "host-L.txt"), "utf8"))?.[1] ?? "";
    const times = fs.readFileSync(path.join(dir, "times.txt"), "utf8").trim().split("\n").map((l) => l.split(" "));
    const toSecond = (t: string) => `${t.slice(0, 19)}Z`;
    const pods: SharingPodEvidence[] = times.map(([i, start, end, rc]) => ({
        name: `pod-${i}`, phase: rc === "0" ? "Succeeded" : "Failed", node: "h200d", startedAt: toSecond(start), finishedAt: toSecond(end),
        unschedulable: null, log: fs.readFileSync(path.join(dir, `pod-${i}.txt`), "utf8"),
    }));

    it("all four ran at once on the host's GPU: the verdict passes", () => {
        assert.match(hostUuid, /^GPU-/);
        const r = evaluateSharing({ ...base, hostGpuUuids: [hostUuid], pods, failedScheduling: [] });
        assert.equal(r.passed, true, r.reasons.join("\n"));
        assert.equal(r.concurrentPods, 4);
        assert.equal(r.sameGpu, true);
        assert.equal(r.overlapSeconds, 6);
    });

    it("the same logs run one after another would not pass", () => {
        const serial = pods.map((p, k) => ({ ...p, startedAt: `2026-11-30T01:24:${String(10 + 6 * k)}Z`, finishedAt: `2026-11-30T01:24:${String(16 + 6 * k)}Z` }));
        const r = evaluateSharing({ ...base, hostGpuUuids: [hostUuid], pods: serial, failedScheduling: [] });
        assert.equal(r.passed, false);
        assert.equal(r.concurrentPods, 1);
    });
});

describe("toSharingPods", () => {
    it("reads the script's summary, tolerating missing fields", () => {
        assert.deepEqual(toSharingPods({
            pods: [{ name: "a", phase: "Succeeded", node: "minikube", startedAt: "t0", finishedAt: "t1", unschedulable: null, log: "x" }, { name: "b" }, null],
            failedScheduling: [{ pod: "b", message: "m" }],
        }), {
            pods: [
                { name: "a", phase: "Succeeded", node: "minikube", startedAt: "t0", finishedAt: "t1", unschedulable: null, log: "x" },
                { name: "b", phase: "Unknown", node: null, startedAt: null, finishedAt: null, unschedulable: null, log: "" },
            ],
            failedScheduling: [{ pod: "b", message: "m" }],
        });
        assert.deepEqual(toSharingPods({}), { pods: [], failedScheduling: [] });
    });
});
