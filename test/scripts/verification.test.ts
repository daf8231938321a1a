import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
    JOB_COMPLETE, NVIDIA_SMI_FIXTURES, SimHost, simEvent, simJob, simJobPod, summaryOf, useKubeSim, writeKubeObjects, writePodLog,
} from "../harness/simHost";
import { evaluateVerification } from "../../components/verificationResult";

/**
 * verification-wait.sh on the simulated host: the kubectl stand-in serves the Job, its pod (whose
 * state changes as the script polls) and their events; the pod's log is the recorded H200 output.
 */

const NS = "gpu-minikube-verification";
const JOB = "gpu-verify-3f2b9c1d0e";
const POD = `${JOB}-7xk2p`;
const IMAGE = "nvidia/cuda:12.5.0-base-ubuntu22.04";
const H200_LOG = fs.readFileSync(path.join(NVIDIA_SMI_FIXTURES, "smi-combined.txt"), "utf8");
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- name: gpu-minikube\n  cluster:\n    server: https://192.168.49.2:8443\n";

const PENDING = {
    phase: "Pending",
    conditions: [{ type: "PodScheduled", status: "True" }],
    containerStatuses: [{ name: "nvidia-smi", ready: false, restartCount: 0, image: IMAGE, state: { waiting: { reason: "ContainerCreating" } } }],
};
const SUCCEEDED = {
    phase: "Succeeded",
    conditions: [{ type: "PodScheduled", status: "True" }],
    containerStatuses: [{ name: "nvidia-smi", ready: false, restartCount: 0, image: IMAGE,
        state: { terminated: { reason: "Completed", exitCode: 0, startedAt: "2026-11-29T11:41:02Z", finishedAt: "2026-11-29T11:41:03Z" } } }],
};

function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_KUBECONFIG: KUBECONFIG, GM_NAMESPACE: NS, GM_JOB_NAME: JOB, GM_TIMEOUT_SECONDS: "10",
        GM_POLL_SECONDS: "0.1", GM_STUCK_SECONDS: "1", ...extra,
    };
}

describe("verification-wait.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useKubeSim(host);
    });
    afterEach(() => host.cleanup());

    it("waits for the Job to complete and captures its pod's whole log (recorded H200 output)", async () => {
        const pod = simJobPod(JOB, NS, POD, PENDING, { node: "minikube" }) as Record<string, unknown>;
        pod._sim = { after: [{ gets: 3, patch: { status: SUCCEEDED } }] };
        writeKubeObjects(host, { jobs: [simJob(JOB, NS, JOB_COMPLETE, 3)], pods: [pod] });
        writePodLog(host, NS, POD, H200_LOG);
        const run = await host.runScript("verification-wait.sh", env());
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.deepEqual({ ...s, log: undefined }, { stage: "verification", jobName: JOB, succeeded: true, pod: POD, node: "minikube", log: undefined });
        assert.equal(s.log, H200_LOG, "the whole log, byte for byte");
        assert.match(String(s.log), /GPU-6121f79f-64c1-4fce-d205-887843b4899e, 580\.159\.04, 143771 MiB/);
        assert.equal((run.stderr.match(/\[verification\] poll \d+ \(\d+s of 10s\): job gpu-verify-3f2b9c1d0e: running; pod .*: Pending \(ContainerCreating\) on minikube/g) ?? []).length, 2);
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
        assert.deepEqual(host.calls("kubectl", "logs").map((e) => e.args.slice(-3)), [[NS, "logs", POD]]);
    });

    it("the captured log feeds the gpuVerification verdict: passed, driver mismatch, unknown UUID", async () => {
        const pod = simJobPod(JOB, NS, POD, SUCCEEDED, { node: "minikube" });
        writeKubeObjects(host, { jobs: [simJob(JOB, NS, JOB_COMPLETE, 1)], pods: [pod] });
        writePodLog(host, NS, POD, H200_LOG);
        const run = await host.runScript("verification-wait.sh", env());
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        const verdict = (hostDriverVersion: string, hostGpuUuids: string[]) => evaluateVerification({
            jobSucceeded: s.succeeded === true, log: String(s.log), node: String(s.node), image: IMAGE, minGpus: 1,
            hostDriverVersion, hostGpuUuids,
        });
        const h200 = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
        const ok = verdict("580.159.04", [h200]);
        assert.equal(ok.passed, true, ok.reasons.join("; "));
        assert.equal(ok.node, "minikube");
        const mismatch = verdict("570.86.15", [h200]);
        assert.equal(mismatch.passed, false);
        assert.deepEqual(mismatch.reasons, ["driver version in the pod (580.159.04) differs from the host's (570.86.15)"]);
        const stranger = verdict("580.159.04", ["GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]);
        assert.equal(stranger.passed, false);
        assert.deepEqual(stranger.reasons, [`GPU 0 in the pod (${h200}) is not one of the host's GPUs`]);
    });

    it("ImagePullBackOff: fails fast (after the grace period, long before the deadline) with the reason, message, events and fix", async () => {
        const pull = {
            phase: "Pending",
            conditions: [{ type: "PodScheduled", status: "True" }],
            containerStatuses: [{ name: "nvidia-smi", ready: false, restartCount: 0, image: "nvidia/cuda:12.5.0-base-ubuntu2204",
                state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image \"nvidia/cuda:12.5.0-base-ubuntu2204\": ErrImagePull: Error response from daemon: manifest for nvidia/cuda:12.5.0-base-ubuntu2204 not found: manifest unknown: manifest unknown" } } }],
        };
        writeKubeObjects(host, {
            jobs: [simJob(JOB, NS)],
            pods: [simJobPod(JOB, NS, POD, pull, { node: "minikube", image: "nvidia/cuda:12.5.0-base-ubuntu2204" })],
            events: [
                simEvent(NS, "Pod", POD, "Normal", "Scheduled", `Successfully assigned ${NS}/${POD} to minikube`),
                simEvent(NS, "Pod", POD, "Warning", "Failed", "Failed to pull image \"nvidia/cuda:12.5.0-base-ubuntu2204\": Error response from daemon: manifest for nvidia/cuda:12.5.0-base-ubuntu2204 not found: manifest unknown"),
                simEvent(NS, "Job", JOB, "Normal", "SuccessfulCreate", `Created pod: ${POD}`),
            ],
        });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 4_000, `took ${run.durationMs} ms; the deadline was 60 s`);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, /ERROR: the verification pod gpu-verify-3f2b9c1d0e-7xk2p is stuck: ImagePullBackOff for \ds \(found: ImagePullBackOff: Back-off pulling image/);
        assert.match(run.stderr, /events of pod gpu-verify-3f2b9c1d0e-7xk2p:\n(.*\n)*.*Warning +Failed +pod\/gpu-verify-3f2b9c1d0e-7xk2p +Failed to pull image/);
        assert.match(run.stderr, /events of Job gpu-verify-3f2b9c1d0e:\n(.*\n)*.*SuccessfulCreate/);
        assert.match(run.stderr, /Fix: the node cannot pull 'nvidia\/cuda:12\.5\.0-base-ubuntu2204': check the image name \(gpu-minikube:verification\.image\)/);
    });

    it("Unschedulable (Insufficient nvidia.com/gpu): fails fast with the scheduler's message and the GPU fix", async () => {
        const unschedulable = {
            phase: "Pending",
            conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable",
                message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." }],
        };
        writeKubeObjects(host, {
            jobs: [simJob(JOB, NS)],
            pods: [simJobPod(JOB, NS, POD, unschedulable)],
            events: [simEvent(NS, "Pod", POD, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")],
        });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 4_000, `took ${run.durationMs} ms; the deadline was 60 s`);
        assert.match(run.stderr, /stuck: Unschedulable for \ds \(found: Unschedulable: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\./);
        assert.match(run.stderr, /Warning +FailedScheduling +pod\/gpu-verify-3f2b9c1d0e-7xk2p +0\/1 nodes are available/);
        assert.match(run.stderr, /Fix: no node has enough free nvidia\.com\/gpu: .*gpu-minikube:verification\.gpus/);
        assert.match(run.stderr, /pod gpu-verify-3f2b9c1d0e-7xk2p: phase Pending, node none, reason none/, "the pod was never scheduled");
    });

    it("a Job that failed (nvidia-smi exit 9): fails at once with the Job's reason, exit code and the pod's log", async () => {
        const failed = {
            phase: "Failed",
            conditions: [{ type: "PodScheduled", status: "True" }],
            containerStatuses: [{ name: "nvidia-smi", ready: false, restartCount: 0, image: IMAGE, state: { terminated: { reason: "Error", exitCode: 9 } } }],
        };
        writeKubeObjects(host, {
            jobs: [simJob(JOB, NS, [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" }])],
            pods: [simJobPod(JOB, NS, POD, failed, { node: "minikube" })],
        });
        writePodLog(host, NS, POD, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n");
        const run = await host.runScript("verification-wait.sh", env());
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: verification Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e failed \(found: BackoffLimitExceeded: Job has reached the specified backoff limit; pod gpu-verify-3f2b9c1d0e-7xk2p: Error \(exit 9\)\)/);
        assert.match(run.stderr, /\| NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
        assert.match(run.stderr, /Fix: the verification command failed inside the pod \(exit 9\)/);
    });

    it("deadline: fails within it, with the pod's state", async () => {
        writeKubeObjects(host, { jobs: [simJob(JOB, NS)], pods: [simJobPod(JOB, NS, POD, PENDING, { node: "minikube" })] });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "2" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 2_900, `took ${run.durationMs} ms for a 2 s deadline`);
        assert.match(run.stderr, /ERROR: verification Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e did not complete within 2s \(found: job gpu-verify-3f2b9c1d0e: running; pod gpu-verify-3f2b9c1d0e-7xk2p: Pending \(ContainerCreating\) on minikube\)/);
    });

    it("a Job that does not exist: fails after the grace period, saying so", async () => {
        writeKubeObjects(host, {});
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 4_000, `took ${run.durationMs} ms`);
        assert.match(run.stderr, /ERROR: Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e does not exist \(found: Error from server \(NotFound\): jobs\.batch "gpu-verify-3f2b9c1d0e" not found\)/);
    });

    describe("rejects hostile or malformed inputs before any command runs", () => {
        const bad: Array<[string, string]> = [
            ["GM_NAMESPACE", "default --all-namespaces"],
            ["GM_NAMESPACE", "x; rm -rf /"],
            ["GM_JOB_NAME", "$(reboot)"],
            ["GM_JOB_NAME", "a".repeat(64)],
            ["GM_TIMEOUT_SECONDS", "0"],
            ["GM_POLL_SECONDS", "3"],
            ["GM_KUBECONFIG", ""],
        ];
        for (const [key, value] of bad) {
            it(`${key}=${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…` : value)}`, async () => {
                const run = await host.runScript("verification-wait.sh", env({ [key]: value }));
                assert.equal(run.code, 1);
                assert.match(run.stderr, new RegExp(`\\[verification\\] ERROR: input ${key} `));
                assert.deepEqual(host.journal(), []);
            });
        }
    });
});
