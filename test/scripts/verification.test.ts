import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { buildVerificationJob, VerificationJobSpec } from "../../components/verificationJob";
import { evaluateVerification } from "../../components/verificationResult";
import { ControlPlane } from "../harness/controlPlane";
import { blackHoleServer, kubeconfigFor, sharedControlPlane, useRealKubectl } from "../harness/sharedControlPlane";
import { NVIDIA_SMI_FIXTURES, REPO_ROOT, ScriptRun, SimHost, summaryOf } from "../harness/simHost";

/**
 * verification-wait.sh with the real kubectl v1.37.2 against a real API server, scheduler and Job
 * controller (one control plane for the file): the verification Job comes from
 * components/verificationJob.ts, applied server-side as the Pulumi Kubernetes provider applies it;
 * the real scheduler places its pod on a kwok GPU node (or says why not), the Job controller
 * completes or fails it, kwok runs the pod and serves its log (the recorded H200 output). What kwok
 * cannot do by itself comes from our Stages (controlPlane.ts): an image that cannot be pulled, a
 * container that exits 9.
 */

const IMAGE = "nvidia/cuda:12.5.0-base-ubuntu22.04";
const TYPO_IMAGE = "nvidia/cuda:12.5.0-base-ubuntu2204";
const FAILING_IMAGE = "nvidia/cuda:12.5.0-fails-exit-9";
const H200_LOG = fs.readFileSync(path.join(NVIDIA_SMI_FIXTURES, "smi-combined.txt"), "utf8");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const NO_DRIVER_LOG = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
/** The GPU node every Job lands on (1 GPU, as minikube's node on a one-GPU host). */
const NODE = "minikube";

function env(kubeconfig: string, namespace: string, job: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
        // Generous: a passing run ends as soon as the Job completes; a loaded machine is slow.
        GM_KUBECONFIG: kubeconfig, GM_NAMESPACE: namespace, GM_JOB_NAME: job, GM_TIMEOUT_SECONDS: "120",
        GM_POLL_SECONDS: "0.5", GM_STUCK_SECONDS: "2", ...extra,
    };
}

/** kwok's per-pod knobs: the container stays in ContainerCreating for a minute (delay and its jitter bound). */
const SLOW_START = { "pod-ready.stage.kwok.x-k8s.io/delay": "60s", "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "61s" };

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("verification-wait.sh (real kubectl, real API server, scheduler and Job controller, kwok GPU node)", () => {
    // Pod stages take 0.3–0.8 s each (shipped: 1–5 s); the timing of a pod's life is not under test here.
    const shared = sharedControlPlane({ unpullableImages: [TYPO_IMAGE], failingImages: { [FAILING_IMAGE]: 9 }, podStageDelay: { minMs: 300, maxMs: 500 } },
        async (cp) => {
            await cp.addGpuNode(NODE, { gpus: 1 });
        });
    let host: SimHost;
    beforeEach(() => { host = SimHost.create({ standins: [] }); });
    afterEach(() => host.cleanup());

    function setup(t: { skip: (m?: string) => void }): ControlPlane | undefined {
        const cp = shared.get(t);
        if (cp) useRealKubectl(host, cp);
        return cp;
    }

    /**
     * A fresh namespace (as the program creates it) and the verification Job for SPEC in it, applied
     * server-side; EDIT may change the manifest first (pod annotations, node selector). Its pods'
     * log (served by kwok) is LOG, by default the recorded H200 output; null: none.
     */
    async function applyJob(cp: ControlPlane, spec: Partial<VerificationJobSpec>, edit?: (podSpec: Record<string, unknown>, podMeta: Record<string, unknown>) => void, log: string | null = H200_LOG): Promise<{ ns: string; job: string }> {
        const ns = shared.unique("gpu-minikube-verification");
        const manifest = buildVerificationJob({ image: IMAGE, gpus: 1, timeoutSeconds: 600, runId: ns, ...spec }, ns);
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: manifest.metadata.labels } });
        if (log !== null) await cp.setPodLogs(ns, { namespaces: [ns] }, log);
        const template = manifest.spec.template as unknown as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
        // kwok finishes a pod's deletion at a random moment up to the end of its grace period (30 s by
        // default); a kubelet stops this one-shot container at once. 1 s frees the GPU for the next test.
        template.spec.terminationGracePeriodSeconds = 1;
        edit?.(template.spec, template.metadata);
        await cp.apply(manifest);
        return { ns, job: manifest.metadata.name };
    }

    /** A failed verification is a recorded result: exit 0, succeeded:false, the failure, the Job deleted (and so its pod). */
    async function assertGaveUp(cp: ControlPlane, run: ScriptRun, ns: string, job: string, failure: RegExp, podGone = true): Promise<Record<string, unknown>> {
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false, run.stderr);
        assert.match(String(s.failure), failure);
        assert.match(run.stderr, /\[verification\] verification failed: /);
        assert.equal(s.jobDeleted, true, run.stderr);
        assert.deepEqual(host.calls("kubectl", "delete").map((e) => e.args.slice(e.args.indexOf("-n"))),
            [["-n", ns, "delete", "job", job, "--ignore-not-found", "--wait=false", "--cascade=background"]]);
        const left = await cp.kubectl(["-n", ns, "get", "job", job]);
        assert.match(left.stderr, /NotFound/, "the Job is gone");
        // The garbage collector removes its pod right after (background deletion), which frees the GPU.
        if (podGone) await cp.kubectlOk(["-n", ns, "wait", "--for=delete", "pod", "-l", `job-name=${job}`, "--timeout=60s"], { timeoutMs: 70_000 });
        assert.match(String(s.verifiedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        return s;
    }

    it("waits for the Job to complete on the GPU node, captures its pod's whole log (the H200 output), and the log passes the verdict", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, {});
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job), 150_000);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.succeeded, true, run.stderr);
        assert.equal(s.jobName, job);
        assert.equal(s.node, NODE, "scheduled by the real scheduler onto the GPU node");
        assert.match(String(s.pod), new RegExp(`^${esc(job)}-[a-z0-9]{5}$`));
        assert.equal(s.failure, null);
        assert.equal(s.jobDeleted, false, "a Job that passed is kept (its log stays readable)");
        assert.equal(s.log, H200_LOG, "the whole log, byte for byte");
        // The container's own run, as the kubelet (kwok) recorded it.
        assert.match(String(s.startedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.match(String(s.finishedAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.ok(String(s.startedAt) <= String(s.finishedAt));
        assert.deepEqual(host.calls("kubectl", "delete"), []);
        assert.ok(host.calls("kubectl").every((e) => e.args[0] === "--kubeconfig"));
        assert.deepEqual(host.calls("kubectl", "logs").map((e) => e.args.slice(-3)), [[ns, "logs", String(s.pod)]]);

        const verdict = (hostDriverVersion: string, hostGpuUuids: string[]) => evaluateVerification({
            jobSucceeded: s.succeeded === true, log: String(s.log), node: String(s.node), image: IMAGE, minGpus: 1, hostDriverVersion, hostGpuUuids,
        });
        const ok = verdict("580.159.04", [H200_UUID]);
        assert.equal(ok.passed, true, ok.reasons.join("; "));
        assert.equal(ok.node, NODE);
        assert.deepEqual(verdict("570.86.15", [H200_UUID]).reasons, ["driver version in the pod (580.159.04) differs from the host's (570.86.15)"]);
        assert.deepEqual(verdict("580.159.04", ["GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]).reasons, [`GPU 0 in the pod (${H200_UUID}) is not one of the host's GPUs`]);
    });

    it("more GPUs than any node has: the real scheduler's 'Insufficient nvidia.com/gpu' reaches the user after the 15 s stuck time", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, { gpus: 2 });
        // GM_STUCK_SECONDS unset: the script's default (15 s), as the program runs it.
        const e = env(cp.kubeconfig, ns, job);
        delete e.GM_STUCK_SECONDS;
        const run = await host.runScript("verification-wait.sh", e, 90_000);
        // It gives up once the pod was Unschedulable for 15 s (the script's own count, from the first
        // poll that saw it, so at most a poll later), long before the 120 s deadline; the diagnostics
        // and the delete after it take a few kubectl calls, whose speed depends on the machine.
        assert.ok(run.durationMs < 60_000, `took ${run.durationMs} ms; the deadline was 120 s`);
        const s = await assertGaveUp(cp, run, ns, job, /stuck: Unschedulable for (1[5-9]|2\d)s \(found: Unschedulable: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\./);
        assert.match(String(s.failure), /Fix: no node has enough free nvidia\.com\/gpu: .*gpu-minikube:verification\.gpus/);
        assert.match(run.stderr, new RegExp(`Warning +FailedScheduling +pod/${esc(job)}-\\w+ +0/1 nodes are available: 1 Insufficient nvidia\\.com/gpu`));
        assert.match(run.stderr, new RegExp(`pod ${esc(job)}-\\w+: phase Pending, node none, reason none`), "the pod was never scheduled");
        // Real kubectl: `logs` of a pod that has no node prints nothing and exits 0.
        assert.match(run.stderr, /last log lines of pod .*:\n {2}\| \(none\)/);
    });

    it("a workload Job (verification.images.<w>) that cannot be placed: the fix does not point at verification.gpus, which does not size it", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, { gpus: 2 });
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_IMAGE_KEY: "verification.images.vectorAdd" }), 90_000);
        const s = await assertGaveUp(cp, run, ns, job, /stuck: Unschedulable for \d+s \(found: Unschedulable: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu\./);
        assert.match(String(s.failure), /Fix: no node has enough free nvidia\.com\/gpu: .*this Job asks for one GPU, so at least one must be free/);
        assert.doesNotMatch(String(s.failure), /verification\.gpus/);
    });

    it("an image the node cannot pull: ErrImagePull/ImagePullBackOff, given up after the stuck time with the kubelet's message, events and the fix", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        // kwok would serve a log even for a container that never started; the kubelet has none.
        const { ns, job } = await applyJob(cp, { image: TYPO_IMAGE }, undefined, null);
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job), 90_000);
        const s = await assertGaveUp(cp, run, ns, job, new RegExp(`^the verification pod ${esc(job)}-\\w+ is stuck: (ErrImagePull|ImagePullBackOff) for \\ds \\(found: (ErrImagePull|ImagePullBackOff): (Back-off pulling image "${esc(TYPO_IMAGE)}": ErrImagePull: )?Error response from daemon: manifest for ${esc(TYPO_IMAGE)} not found`));
        assert.match(String(s.failure), /Fix: the node cannot pull 'nvidia\/cuda:12\.5\.0-base-ubuntu2204': check the image name \(gpu-minikube:verification\.image\)/);
        assert.match(run.stderr, new RegExp(`Warning +Failed +pod/${esc(job)}-\\w+ +Failed to pull image "${esc(TYPO_IMAGE)}"`));
        assert.match(run.stderr, new RegExp(`events of Job ${esc(job)}:\\n(.*\\n)*.*SuccessfulCreate`));
        // kubectl's BadRequest for a pod without a log is shown as the reason, never taken for the log.
        assert.match(run.stderr, /last log lines of pod .*:\n {2}\| \(no log: Error from server \(BadRequest\): /);
        assert.equal(s.log, "");
    });

    it("an image the node cannot pull, default stuck time: the kubelet's ErrImagePull/ImagePullBackOff flips do not restart the count", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        // The harness flips the pod as the kubelet does: ErrImagePull, ImagePullBackOff a second later,
        // ErrImagePull again after the 10 s back-off, … — no single reason lasts the 15 s stuck time.
        const { ns, job } = await applyJob(cp, { image: TYPO_IMAGE }, undefined, null);
        const e = env(cp.kubeconfig, ns, job);
        delete e.GM_STUCK_SECONDS;
        const run = await host.runScript("verification-wait.sh", e, 150_000);
        assert.ok(run.durationMs < 45_000, `took ${run.durationMs} ms; the deadline was 120 s and the stuck time 15 s`);
        await assertGaveUp(cp, run, ns, job, new RegExp(`^the verification pod ${esc(job)}-\\w+ is stuck: (ErrImagePull|ImagePullBackOff) for (1[5-9]|2\\d)s `));
    });

    it("a container that exits 9: the Job controller fails the Job; the failure has its reason, the exit code and the pod's log", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, { image: FAILING_IMAGE }, undefined, NO_DRIVER_LOG);
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job), 150_000);
        const s = await assertGaveUp(cp, run, ns, job, new RegExp(`^verification Job ${esc(ns)}/${esc(job)} failed \\(found: BackoffLimitExceeded: Job has reached the specified backoff limit; pod ${esc(job)}-\\w+: Error \\(exit 9\\)\\)`));
        assert.match(String(s.log), /NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/, "the log tail travels with the result");
        assert.match(run.stderr, /\| NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
        assert.match(String(s.failure), /Fix: the verification command failed inside the pod \(exit 9\)/);
    });

    it("the deadline: gives up with the pod's state, and deletes the Job", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        // No log served: kwok would serve one even for a container that never started; a kubelet has none.
        const { ns, job } = await applyJob(cp, {}, (_spec, meta) => { meta.annotations = SLOW_START; }, null);
        // Let the pod reach ContainerCreating first, so the last poll sees it there.
        await cp.kubectlOk(["-n", ns, "wait", "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=ContainerCreating", "pod", "-l", `job-name=${job}`, "--timeout=60s"], { timeoutMs: 70_000 });
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_TIMEOUT_SECONDS: "8" }), 60_000);
        const s = await assertGaveUp(cp, run, ns, job, new RegExp(`^verification Job ${esc(ns)}/${esc(job)} did not complete within 8s \\(found: job ${esc(job)}: running; pod ${esc(job)}-\\w+: Pending \\(ContainerCreating\\) on ${NODE}\\)`));
        assert.match(run.stderr, new RegExp(`node ${NODE}: Ready=True`));
        assert.equal(s.log, "");
    });

    it("an API server that accepts but never answers: the polls, the diagnostics and the delete all end by the deadline + 5 s", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const hole = await blackHoleServer();
        try {
            const run = await host.runScript("verification-wait.sh", env(kubeconfigFor(cp, `https://127.0.0.1:${hole.port}`), "gpu-minikube-verification", "gpu-verify-0000000000", { GM_TIMEOUT_SECONDS: "6" }), 60_000);
            // Before (main at 896e6ff): each call past the deadline still got 1 s, and the delete 5 s more: 19.4 s measured.
            assert.ok(run.durationMs < 6_000 + 5_000 + 3_000, `took ${run.durationMs} ms for a 6 s deadline`);
            assert.equal(run.code, 0, run.stderr);
            const s = summaryOf(run);
            assert.equal(s.succeeded, false);
            assert.equal(s.jobDeleted, false, "nothing could be deleted");
            assert.match(String(s.failure), /did not complete within 6s \(found: the API server did not answer for the Job/);
        } finally {
            await hole.close();
        }
    });

    it("a pod list that fails (slow API server) is never taken for 'the Job has no pod'", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, {});
        await cp.kubectlOk(["-n", ns, "wait", "--for=condition=Complete", `job/${job}`, "--timeout=90s"], { timeoutMs: 100_000 });
        host.fault("kubectl", { match: "get pods -l", exitCode: 1, stderr: "Unable to connect to the server: net/http: TLS handshake timeout" });
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_TIMEOUT_SECONDS: "5" }), 60_000);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.doesNotMatch(String(s.failure), /none of its pods is left/, "before: a Complete Job with a failed pod list was reported podless");
        assert.match(String(s.failure), /did not complete within 5s/);
    });

    it("a Job that does not exist: gives up after the stuck time with the API server's NotFound", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, "default", "gpu-verify-0000000000"), 60_000);
        assert.equal(run.code, 0, run.stderr);
        assert.ok(run.durationMs < 60_000, `took ${run.durationMs} ms; the deadline was 120 s`);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.match(String(s.failure), /^Job default\/gpu-verify-0000000000 does not exist \(found: Error from server \(NotFound\): jobs\.batch "gpu-verify-0000000000" not found\)\. Fix: .*pulumi up --refresh/);
    });

    it("a dead node agent (pod bound, no container status): gives up after the stuck time with the node's Ready condition", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        // A node kwok does not manage (no kubelet answers for it), whose Ready condition went Unknown.
        const dead = shared.unique("dead-node");
        await cp.apply({
            apiVersion: "v1", kind: "Node", metadata: { name: dead, labels: { "kubernetes.io/hostname": dead } },
            status: {
                capacity: { cpu: "4", memory: "8Gi", pods: "110", "nvidia.com/gpu": "1" },
                allocatable: { cpu: "4", memory: "8Gi", pods: "110", "nvidia.com/gpu": "1" },
                conditions: [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status.",
                    lastHeartbeatTime: "2026-11-30T00:41:02Z", lastTransitionTime: "2026-11-30T00:41:42Z" }],
            },
        });
        try {
            // Bound to it as the scheduler had done before the kubelet went away.
            const { ns, job } = await applyJob(cp, {}, (spec) => { spec.nodeName = dead; });
            const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job), 90_000);
            assert.ok(run.durationMs < 60_000, `took ${run.durationMs} ms; the deadline was 120 s (before: it waited all of it)`);
            const s = await assertGaveUp(cp, run, ns, job, new RegExp(`stuck: NoContainerStatus for \\ds \\(found: NoContainerStatus: pod ${esc(job)}-\\w+ was scheduled to node ${esc(dead)} but has no container status after \\ds; node Ready=Unknown \\(NodeStatusUnknown\\): Kubelet stopped posting node status\\., last heartbeat 2026-11-30T00:41:02Z\\)`),
            // No kubelet finishes the deletion of a pod on a dead node (the pod GC does, later).
            false);
            assert.match(String(s.failure), new RegExp(`Fix: the node agent \\(kubelet\\) on node ${esc(dead)} does not run the pod .*the next 'pulumi up' starts a fresh verification Job`));
            assert.doesNotMatch(String(s.failure), /image/i, "no advice about image pulls");
        } finally {
            await cp.kubectl(["delete", "node", dead, "--wait=false"]);
        }
    });

    it("Insufficient nvidia.com/gpu while our own earlier pod holds the GPU: says the holder is ours", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const busy = shared.unique("busy-gpu-node");
        await cp.addGpuNode(busy, { gpus: 2, labels: { "gm-test/pool": busy } });
        const holders = shared.unique("holders");
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: holders } });
        const holder = (name: string, labels: Record<string, string>) => ({
            apiVersion: "v1", kind: "Pod", metadata: { name, namespace: holders, labels },
            spec: { nodeName: busy, containers: [{ name: "c", image: IMAGE, resources: { limits: { "nvidia.com/gpu": "1" } } }] },
        });
        await cp.apply(holder("old-verification", { "app.kubernetes.io/managed-by": "gpu-minikube" }), holder("train-xyz", { app: "train" }));
        try {
            const { ns, job } = await applyJob(cp, {}, (spec) => { spec.nodeSelector = { "gm-test/pool": busy }; });
            const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job), 90_000);
            const s = await assertGaveUp(cp, run, ns, job, /Insufficient nvidia\.com\/gpu/);
            assert.match(String(s.failure), new RegExp(`Fix: the GPU is held by our own pod\\(s\\) (\\S+,)*${esc(holders)}/old-verification(,\\S+)* \\(made by this program`), run.stderr);
            assert.match(run.stderr, new RegExp(`pods holding nvidia\\.com/gpu:\\n(  \\| .*\\n)*  \\| ${esc(holders)}/old-verification on ${esc(busy)}: nvidia\\.com/gpu 1 \\(ours\\)\\n  \\| ${esc(holders)}/train-xyz on ${esc(busy)}: nvidia\\.com/gpu 1 \\(not ours\\)`));
        } finally {
            await cp.kubectl(["delete", "namespace", holders, "--wait=false"]);
        }
    });

    it("the Job's activeDeadlineSeconds: DeadlineExceeded, and each failed attempt is noted for the profile", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, { timeoutSeconds: 3 }, (_spec, meta) => { meta.annotations = SLOW_START; });
        const stateDir = path.join(host.home, "gm-state");
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_PROFILE: "lab", GM_STATE_DIR: stateDir, GM_STUCK_SECONDS: "60" }), 90_000);
        const s = await assertGaveUp(cp, run, ns, job, /DeadlineExceeded: Job was active longer than specified deadline/);
        assert.match(String(s.failure), /the next 'pulumi up' starts a fresh Job/);
        assert.equal(fs.readFileSync(path.join(stateDir, "profiles", "lab", "verification-failed-attempts"), "utf8"), `${ns}/${job}\n`);
    });

    it("a Job replaced outside Pulumi (another uid) is not taken for ours; with its own uid it passes", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, {});
        const uid = (await cp.kubectlOk(["-n", ns, "get", "job", job, "-o", "jsonpath={.metadata.uid}"])).trim();
        const same = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_JOB_UID: uid }), 150_000);
        assert.equal(summaryOf(same).succeeded, true, same.stderr);
        host.resetJournal();
        const other = "aaaaaaaa-2222-3333-4444-555555555555";
        const run = await host.runScript("verification-wait.sh", env(cp.kubeconfig, ns, job, { GM_JOB_UID: other }), 60_000);
        await assertGaveUp(cp, run, ns, job, new RegExp(`is not the one Pulumi created \\(found: uid ${uid}, Pulumi created ${other}.*pulumi up --refresh`));
    });

    it("an unreachable API server: quotes kubectl's own message, not the klog lines before it", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const run = await host.runScript("verification-wait.sh", env(kubeconfigFor(cp, "https://127.0.0.1:1"), "gpu-minikube-verification", "gpu-verify-0000000000", { GM_TIMEOUT_SECONDS: "6" }), 60_000);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.succeeded, false);
        assert.equal(s.jobDeleted, false, "nothing could be deleted");
        assert.match(String(s.failure), /\(found: the API server did not answer for the Job \(The connection to the server 127\.0\.0\.1:1 was refused - did you specify the right host or port\?\)/);
        assert.doesNotMatch(String(s.failure), /memcache\.go|E\d{4} /);
        assert.doesNotMatch(run.stderr, /poll \d+ .*memcache\.go/);
    });

    it("destroy: deleting the Job (foreground, as the Pulumi provider does) and then its namespace both finish", async (t) => {
        const cp = setup(t);
        if (!cp) return;
        const { ns, job } = await applyJob(cp, {});
        await cp.kubectlOk(["-n", ns, "wait", "--for=condition=Complete", `job/${job}`, "--timeout=90s"], { timeoutMs: 100_000 });
        await cp.kubectlOk(["-n", ns, "delete", "job", job, "--cascade=foreground", "--wait", "--timeout=60s"], { timeoutMs: 70_000 });
        assert.equal((await cp.kubectl(["-n", ns, "get", "pods", "-l", `job-name=${job}`, "-o", "name"])).stdout, "", "the Job's pod went with it");
        await cp.kubectlOk(["delete", "namespace", ns, "--wait", "--timeout=60s"], { timeoutMs: 70_000 });
        const gone = await cp.kubectl(["get", "namespace", ns]);
        assert.equal(gone.code, 1);
        assert.match(gone.stderr, /NotFound/);
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
            ["GM_IMAGE_KEY", "verification.images.vectorAdd; reboot"],
            ["GM_IMAGE_KEY", "cluster.kubeconfig"],
        ];
        for (const [key, value] of bad) {
            it(`${key}=${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…` : value)}`, async () => {
                host.writeStandin("kubectl", "exit 0");
                const run = await host.runScript("verification-wait.sh", env("apiVersion: v1\nkind: Config\n", "gpu-minikube-verification", "gpu-verify-3f2b9c1d0e", { [key]: value }));
                assert.equal(run.code, 1);
                assert.match(run.stderr, new RegExp(`\\[verification\\] ERROR: input ${key} `));
                assert.deepEqual(host.journal(), []);
            });
        }
    });
});

const NS = "gpu-minikube-verification";
const JOB = "gpu-verify-3f2b9c1d0e";

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

    it("with a profile, a failed verdict is noted as a failed attempt, so the next up's observe probe counts it (fresh Jobs)", async () => {
        const stateDir = path.join(host.home, "gm-state");
        const observe = async () => summaryOf(await host.runScript("verification-observe.sh", { GM_PROFILE: "lab", GM_STATE_DIR: stateDir }));
        assert.deepEqual(await observe(), { failedAttempts: 0 });
        const passed = await gate({ GM_PROFILE: "lab", GM_STATE_DIR: stateDir });
        assert.equal(passed.code, 0, passed.stderr);
        assert.deepEqual(await observe(), { failedAttempts: 0 }, "a pass notes nothing");
        const failed = await gate({ GM_PASSED: "false", GM_REASONS: "driver version in the pod (570.1) differs from the host's (580.159.04)", GM_PROFILE: "lab", GM_STATE_DIR: stateDir });
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, /run 'pulumi up' again \(it runs the verification again with fresh Jobs\)/);
        assert.deepEqual(await observe(), { failedAttempts: 1 });
        // Without a profile (existing clusters) nothing is noted, and the fix says what is re-run there.
        const existing = await gate({ GM_PASSED: "false", GM_REASONS: "node gpu-1: no GPU", GM_STATE_DIR: stateDir });
        assert.equal(existing.code, 1);
        assert.match(existing.stderr, /change gpu-minikube:verification\.runId/);
        assert.deepEqual(await observe(), { failedAttempts: 1 });
    });

    for (const [key, value] of [["GM_RUN", "r1;id"], ["GM_RUN", "$(id)"], ["GM_NAMESPACE", "a b"]] as const) {
        it(`rejects ${key}=${JSON.stringify(value)} before marking anything`, async () => {
            host.writeStandin("kubectl", "exit 0");
            const run = await gate({ GM_PASSED: "false", GM_REASONS: "x", GM_RUN: "r1a2b", GM_NAMESPACE: "gpu-minikube-verification-1a2b3c4d", [key]: value });
            assert.equal(run.code, 1);
            assert.match(run.stderr, new RegExp(`ERROR: input ${key} `));
            assert.deepEqual(host.journal(), []);
        });
    }

    it("rejects a hostile GM_PROFILE before noting anything", async () => {
        const run = await gate({ GM_PASSED: "false", GM_REASONS: "x", GM_PROFILE: "../../etc" });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: input GM_PROFILE /);
        assert.doesNotMatch(run.stderr, /GPU verification FAILED/);
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

    it("host-facts.sh on an R610 driver (recorded H200 610.43.02): driver_version still answers, in one call", async () => {
        const run = await host.runScript("host-facts.sh", { SIM_NVIDIA_SMI_DRIVER: "610" });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { driverVersion: "610.43.02", gpuUuids: ["GPU-00000000-0000-0000-0000-000000000000"], error: null });
        assert.deepEqual(host.calls("nvidia-smi").map((e) => e.args), [["--query-gpu=index,name,uuid,driver_version", "--format=csv,noheader"]]);
    });

    it("host-facts.sh on a driver without driver_version (R610 announces its removal): read through kmd_version", async () => {
        const run = await host.runScript("host-facts.sh", { SIM_NVIDIA_SMI_DRIVER: "610-no-driver-version" });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { driverVersion: "610.43.02", gpuUuids: ["GPU-00000000-0000-0000-0000-000000000000"], error: null });
        assert.deepEqual(host.calls("nvidia-smi").map((e) => e.args[0]), ["--query-gpu=index,name,uuid,driver_version", "--query-gpu=index,name,uuid,kmd_version"]);
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
