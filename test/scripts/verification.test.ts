import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
    JOB_COMPLETE, NVIDIA_SMI_FIXTURES, REPO_ROOT, ScriptRun, SimHost, simEvent, simJob, simJobPod, simNode, summaryOf, useKubeSim, writeKubeObjects, writePodLog,
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

/** The objects the kubectl stand-in still serves (after the script's deletes). */
function kubeObjects(host: SimHost): { jobs?: Array<{ metadata: { name: string } }>; pods?: Array<{ metadata: { name: string } }> } {
    return JSON.parse(fs.readFileSync(path.join(host.state, "kube", "objects.json"), "utf8"));
}

/** A failed verification is a recorded result: exit 0, succeeded:false, the failure, the Job deleted. */
function assertGaveUp(host: SimHost, run: ScriptRun, failure: RegExp): Record<string, unknown> {
    assert.equal(run.code, 0, run.stderr);
    const s = summaryOf(run);
    assert.equal(s.succeeded, false);
    assert.match(String(s.failure), failure);
    assert.match(run.stderr, /\[verification\] verification failed: /);
    assert.equal(s.jobDeleted, true);
    assert.deepEqual(host.calls("kubectl", "delete").map((e) => e.args.slice(e.args.indexOf("-n"))),
        [["-n", NS, "delete", "job", JOB, "--ignore-not-found", "--wait=false", "--cascade=background"]]);
    assert.ok(!(kubeObjects(host).jobs ?? []).some((j) => j.metadata.name === JOB), "the Job is gone");
    assert.ok(!(kubeObjects(host).pods ?? []).some((p) => p.metadata.name === POD), "and so is its pod, which frees the GPU");
    assert.match(String(s.verifiedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    return s;
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
        assert.match(String(s.verifiedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.deepEqual({ ...s, log: undefined, verifiedAt: undefined }, {
            stage: "verification", jobName: JOB, succeeded: true, pod: POD, node: "minikube", log: undefined,
            failure: null, jobDeleted: false, verifiedAt: undefined,
            // The container's own run (workloads report it as durationSeconds).
            startedAt: "2026-11-29T11:41:02Z", finishedAt: "2026-11-29T11:41:03Z",
        });
        assert.deepEqual(host.calls("kubectl", "delete"), [], "a Job that passed is kept (its log stays readable)");
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
        assert.ok(run.durationMs < 15_000, `took ${run.durationMs} ms; the deadline was 60 s`);
        assertGaveUp(host, run, /^the verification pod gpu-verify-3f2b9c1d0e-7xk2p is stuck: ImagePullBackOff for \ds \(found: ImagePullBackOff: Back-off pulling image/);
        assert.match(run.stderr, /verification failed: the verification pod gpu-verify-3f2b9c1d0e-7xk2p is stuck: ImagePullBackOff for \ds \(found: ImagePullBackOff: Back-off pulling image/);
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
        assert.ok(run.durationMs < 15_000, `took ${run.durationMs} ms; the deadline was 60 s`);
        assertGaveUp(host, run, /stuck: Unschedulable for \ds \(found: Unschedulable: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\./);
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
        const s = assertGaveUp(host, run, /^verification Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e failed \(found: BackoffLimitExceeded/);
        assert.match(String(s.log), /NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/, "the log tail travels with the result");
        assert.match(run.stderr, /verification failed: verification Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e failed \(found: BackoffLimitExceeded: Job has reached the specified backoff limit; pod gpu-verify-3f2b9c1d0e-7xk2p: Error \(exit 9\)\)/);
        assert.match(run.stderr, /\| NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
        assert.match(run.stderr, /Fix: the verification command failed inside the pod \(exit 9\)/);
    });

    it("deadline: fails within it, with the pod's state", async () => {
        writeKubeObjects(host, { jobs: [simJob(JOB, NS)], pods: [simJobPod(JOB, NS, POD, PENDING, { node: "minikube" })] });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "2" }), 20_000);
        assert.ok(run.durationMs < 2_000 + 4_000, `took ${run.durationMs} ms for a 2 s deadline`);
        assertGaveUp(host, run, /did not complete within 2s/);
        assert.match(run.stderr, /verification failed: verification Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e did not complete within 2s \(found: job gpu-verify-3f2b9c1d0e: running; pod gpu-verify-3f2b9c1d0e-7xk2p: Pending \(ContainerCreating\) on minikube\)/);
    });

    it("a pod list that fails (slow API server) is never taken for 'the Job has no pod'", async () => {
        writeKubeObjects(host, { jobs: [simJob(JOB, NS, JOB_COMPLETE, 1)], pods: [simJobPod(JOB, NS, POD, SUCCEEDED, { node: "minikube" })] });
        host.fault("kubectl", { match: "get pods -l", exitCode: 1, stderr: "Unable to connect to the server: net/http: TLS handshake timeout" });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "3" }), 40_000);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.doesNotMatch(String(s.failure), /none of its pods is left/, "before: a Complete Job with a failed pod list was reported podless");
        assert.match(String(s.failure), /did not complete within 3s/);
    });

    it("a Job that does not exist: fails after the grace period, saying so", async () => {
        writeKubeObjects(host, {});
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 20_000);
        assert.equal(run.code, 0, run.stderr);
        assert.ok(run.durationMs < 15_000, `took ${run.durationMs} ms; the deadline was 60 s`);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.match(String(s.failure), /^Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e does not exist \(found: Error from server \(NotFound\): jobs\.batch "gpu-verify-3f2b9c1d0e" not found\)\. Fix: .*pulumi up --refresh/);
    });

    it("a dead node agent (scheduled, no container status): gives up after the grace period with the node's Ready condition", async () => {
        // What a pod bound to a node whose kubelet is gone looks like: PodScheduled=True, nodeName
        // set, phase Pending and no containerStatuses at all (only the kubelet writes those).
        const orphan = { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }] };
        const node = simNode("minikube", { gpus: 1 }) as { status: Record<string, unknown> };
        node.status.conditions = [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown",
            message: "Kubelet stopped posting node status.", lastHeartbeatTime: "2026-11-30T00:41:02Z" }];
        writeKubeObjects(host, { jobs: [simJob(JOB, NS)], pods: [simJobPod(JOB, NS, POD, orphan, { node: "minikube" })], nodes: [node] });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 50_000);
        // Well under the 60 s deadline, which the script used to wait out (20 s leaves room for a loaded machine).
        assert.ok(run.durationMs < 20_000, `took ${run.durationMs} ms; the deadline was 60 s (before: it waited all of it)`);
        const s = assertGaveUp(host, run, /stuck: NoContainerStatus for \ds \(found: NoContainerStatus: pod gpu-verify-3f2b9c1d0e-7xk2p was scheduled to node minikube but has no container status after \ds; node Ready=Unknown \(NodeStatusUnknown\): Kubelet stopped posting node status\., last heartbeat 2026-11-30T00:41:02Z\)/);
        assert.match(String(s.failure), /Fix: the node agent \(kubelet\) on node minikube does not run the pod .*the next 'pulumi up' starts a fresh verification Job/);
        assert.doesNotMatch(String(s.failure), /image/i, "no advice about image pulls");
        assert.match(run.stderr, /node minikube: Ready=Unknown \(NodeStatusUnknown\)/);
    });

    it("Insufficient nvidia.com/gpu held by our own earlier pod: says the holder is ours", async () => {
        const unschedulable = {
            phase: "Pending",
            conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." }],
        };
        const oldNs = "gpu-minikube-verification-0a1b2c3d";
        const oldPod = simJobPod("gpu-verify-0000000000", oldNs, "gpu-verify-0000000000-abcde",
            { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True" }], containerStatuses: [{ name: "nvidia-smi", state: { waiting: { reason: "ImagePullBackOff" } } }] },
            { node: "minikube" }) as { metadata: { labels: Record<string, string> }; spec: { containers: Array<Record<string, unknown>> } };
        oldPod.metadata.labels["app.kubernetes.io/managed-by"] = "gpu-minikube";
        oldPod.spec.containers[0].resources = { limits: { "nvidia.com/gpu": "1" } };
        const theirs = simJobPod("train", "team-a", "train-xyz", { phase: "Running" }, { node: "minikube" }) as typeof oldPod;
        theirs.spec.containers[0].resources = { limits: { "nvidia.com/gpu": "1" } };
        writeKubeObjects(host, { jobs: [simJob(JOB, NS)], pods: [simJobPod(JOB, NS, POD, unschedulable), oldPod, theirs] });
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "60" }), 20_000);
        const s = assertGaveUp(host, run, /Insufficient nvidia\.com\/gpu/);
        assert.match(String(s.failure), /Fix: the GPU is held by our own pod\(s\) gpu-minikube-verification-0a1b2c3d\/gpu-verify-0000000000-abcde \(made by this program/);
        assert.match(run.stderr, /pods holding nvidia\.com\/gpu:\n {2}\| gpu-minikube-verification-0a1b2c3d\/gpu-verify-0000000000-abcde on minikube: nvidia\.com\/gpu 1 \(ours\)\n {2}\| team-a\/train-xyz on minikube: nvidia\.com\/gpu 1 \(not ours\)/);
    });

    it("notes each failed attempt for the profile, so the next up starts a fresh Job", async () => {
        writeKubeObjects(host, { jobs: [simJob(JOB, NS, [{ type: "Failed", status: "True", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" }])] });
        const stateDir = path.join(host.home, "gm-state");
        const run = await host.runScript("verification-wait.sh", env({ GM_PROFILE: "lab", GM_STATE_DIR: stateDir }));
        const s = assertGaveUp(host, run, /DeadlineExceeded: Job was active longer than specified deadline/);
        assert.match(String(s.failure), /the next 'pulumi up' starts a fresh Job/);
        assert.equal(fs.readFileSync(path.join(stateDir, "profiles", "lab", "verification-failed-attempts"), "utf8"), `${NS}/${JOB}\n`);
    });

    it("a Job replaced outside Pulumi (another uid) is not taken for ours", async () => {
        const job = simJob(JOB, NS, JOB_COMPLETE, 1) as { metadata: Record<string, unknown> };
        job.metadata.uid = "11111111-2222-3333-4444-555555555555";
        writeKubeObjects(host, { jobs: [job], pods: [simJobPod(JOB, NS, POD, SUCCEEDED, { node: "minikube" })] });
        writePodLog(host, NS, POD, H200_LOG);
        const run = await host.runScript("verification-wait.sh", env({ GM_JOB_UID: "aaaaaaaa-2222-3333-4444-555555555555" }));
        assertGaveUp(host, run, /is not the one Pulumi created \(found: uid 11111111-2222-3333-4444-555555555555, Pulumi created aaaaaaaa-.*pulumi up --refresh/);
        const same = await (async () => {
            writeKubeObjects(host, { jobs: [job], pods: [simJobPod(JOB, NS, POD, SUCCEEDED, { node: "minikube" })] });
            return host.runScript("verification-wait.sh", env({ GM_JOB_UID: "11111111-2222-3333-4444-555555555555" }));
        })();
        assert.equal(summaryOf(same).succeeded, true, same.stderr);
    });

    it("an unreachable API server: quotes kubectl's own message, not the klog lines before it", async () => {
        writeKubeObjects(host, { jobs: [simJob(JOB, NS)] });
        fs.writeFileSync(path.join(host.state, "kube", "unreachable"), "");
        const run = await host.runScript("verification-wait.sh", env({ GM_TIMEOUT_SECONDS: "6" }), 40_000);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.equal(s.jobDeleted, false, "nothing could be deleted");
        assert.match(String(s.failure), /\(found: the API server did not answer for the Job \(The connection to the server 192\.168\.49\.2:8443 was refused - did you specify the right host or port\?\)/);
        assert.doesNotMatch(String(s.failure), /memcache\.go|E1130/);
        assert.doesNotMatch(run.stderr, /poll \d+ .*E1130/);
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

describe("verification-gate.sh", () => {
    let host: SimHost;
    beforeEach(() => { host = SimHost.create({ standins: [] }); });
    afterEach(() => host.cleanup());
    const gate = (extra: Record<string, string>) => host.runScript("verification-gate.sh", {
        GM_PASSED: "true", GM_REASONS: "", GM_JOB: `${NS}/${JOB}`, GM_VERIFIED_AT: "2026-11-30T01:05:00Z", ...extra,
    });

    it("passes a passed verification with one summary line", async () => {
        const run = await gate({});
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "verification-gate", passed: true });
    });

    it("fails `up` with every reason when it did not pass; reasons are printed, never run", async () => {
        const run = await gate({ GM_PASSED: "false", GM_REASONS: "the pod saw 1 GPU(s); verification.gpus requires at least 2\n$(touch /tmp/pwned) `id`" });
        assert.equal(run.code, 1);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, /GPU verification FAILED \(Job gpu-minikube-verification\/gpu-verify-3f2b9c1d0e, 2026-11-30T01:05:00Z\):\n {2}- the pod saw 1 GPU\(s\); verification\.gpus requires at least 2\n {2}- \$\(touch \/tmp\/pwned\) `id`/);
        assert.match(run.stderr, /\[verification\] ERROR: the GPU verification did not pass \(found: the pod saw 1 GPU\(s\)/);
    });

    it("rejects a GM_PASSED that is not a boolean", async () => {
        const run = await gate({ GM_PASSED: "yes" });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: input GM_PASSED must be true or false/);
    });
});

describe("verification-observe.sh and host-facts.sh (read-only probes)", () => {
    let host: SimHost;
    beforeEach(() => { host = SimHost.create(); });
    afterEach(() => host.cleanup());

    it("counts the failed attempts noted for the profile; none noted is 0", async () => {
        const stateDir = path.join(host.home, "gm-state");
        const count = async () => summaryOf(await host.runScript("verification-observe.sh", { GM_PROFILE: "lab", GM_STATE_DIR: stateDir }));
        assert.deepEqual(await count(), { failedAttempts: 0 });
        fs.mkdirSync(path.join(stateDir, "profiles", "lab"), { recursive: true });
        fs.writeFileSync(path.join(stateDir, "profiles", "lab", "verification-failed-attempts"), `${NS}/a\n${NS}/b\n`);
        assert.deepEqual(await count(), { failedAttempts: 2 });
        assert.deepEqual(await count(), { failedAttempts: 2 }, "the same in the preview and the update phase");
    });

    it("host-facts.sh reads the driver and GPU UUIDs now (recorded H200 output)", async () => {
        const run = await host.runScript("host-facts.sh", {});
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { driverVersion: "580.159.04", gpuUuids: ["GPU-6121f79f-64c1-4fce-d205-887843b4899e"], error: null });
        assert.deepEqual(host.calls("nvidia-smi").map((e) => e.args), [["--query-gpu=index,name,uuid,driver_version", "--format=csv,noheader"]]);
    });

    it("host-facts.sh never fails: a broken driver becomes an error field", async () => {
        host.fault("nvidia-smi", { exitCode: 9, stderr: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." });
        const run = await host.runScript("host-facts.sh", {});
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { driverVersion: null, gpuUuids: [],
            error: "nvidia-smi exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." });
    });
});

describe("kubectl_error (scripts/lib/common.sh)", () => {
    // What kubectl 1.37 prints on stderr when the API server refuses connections: client-go's
    // discovery cache logs through klog first (memcache.go), then kubectl prints its own message.
    const KUBECTL_REFUSED = [
        'E1130 00:47:12.123456   12345 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"https://127.0.0.1:40123/api?timeout=32s\\": dial tcp 127.0.0.1:40123: connect: connection refused"',
        'E1130 00:47:12.124001   12345 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"https://127.0.0.1:40123/api?timeout=32s\\": dial tcp 127.0.0.1:40123: connect: connection refused"',
        "The connection to the server 127.0.0.1:40123 was refused - did you specify the right host or port?",
        "",
    ].join("\n");
    const errorLine = (text: string) => execFileSync("bash", ["-c", 'source "$1"; kubectl_error "$2"', "_", path.join(REPO_ROOT, "scripts", "lib", "common.sh"), text], { encoding: "utf8" });

    it("quotes kubectl's own line, not the klog lines before it", () => {
        assert.equal(errorLine(KUBECTL_REFUSED), "The connection to the server 127.0.0.1:40123 was refused - did you specify the right host or port?\n");
    });
    it("a single line is that line; only klog lines: the first one", () => {
        assert.equal(errorLine('Error from server (NotFound): jobs.batch "x" not found\n'), 'Error from server (NotFound): jobs.batch "x" not found\n');
        assert.equal(errorLine("I1130 00:00:00.000001       1 a.go:1] one\nW1130 00:00:00.000002       1 b.go:2] two\n"), "I1130 00:00:00.000001       1 a.go:1] one\n");
    });
});
