// Lifecycle of the verification Job (issue 10, items 1, 3, 4 and 5) on a real control plane
// (kube-apiserver, controller manager and scheduler v1.37.2, kwok GPU nodes; test/harness/controlPlane.ts)
// with the real kubectl and the real scripts. The Pulumi engine cannot run here (its language host and
// provider plugins are not served), so each `pulumi up` is replayed step by step as the engine runs the
// program's resources, with the options GpuVerification gives them (the mocks tests check the options):
// - the Job: its manifest and name from the component's own functions (verificationJobSpec,
//   rerunToken, verificationJobName, buildVerificationJob), with the failed-attempt count read by the
//   real verification-observe.sh; created as the Kubernetes provider creates (AlreadyExists fails it),
//   replaced delete-first (`deleteBeforeReplace: true`: the old Job deleted, and awaited gone, before
//   the new one is created); unchanged → no step;
// - the wait step (verification-wait.sh) runs when its inputs change (the Job's name and uid);
// - the gate (verification-gate.sh) fails `up` when the verdict did not pass.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseSummary } from "../../components/hostCommand";
import { rerunToken, verificationJobSpec } from "../../components/gpuVerification";
import { buildVerificationJob, verificationJobName, verificationNamespace } from "../../components/verificationJob";
import { evaluateVerification } from "../../components/verificationResult";
import { ControlPlane, controlPlaneMissing, startControlPlane } from "../harness/controlPlane";
import { skipOrFailUnderCi } from "../harness/realTools";

const ROOT = path.resolve(__dirname, "..", "..");
const SMI_LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const DRIVER = "580.159.04";
const IMAGE = "nvidia/cuda:12.5.0-base-ubuntu22.04";
// An image the node cannot pull (the harness's image-pull-failure Stages: ErrImagePull ⇄ ImagePullBackOff).
const BAD_IMAGE = "nvidia/cuda:no-such-tag";
const PROFILE = "lab";

const missing = controlPlaneMissing();

interface Run { code: number | null; stdout: string; stderr: string }
type JobManifest = ReturnType<typeof buildVerificationJob>;
/** What one `up` asks for: the config keys the Job depends on. */
interface VerificationSettings { gpus: number; image?: string; timeoutSeconds?: number }
/** The Job as Pulumi's state holds it. */
interface JobState { namespace: string; name: string; uid: string }

describe("verification Job lifecycle on a real control plane with kwok GPU nodes", { timeout: 900_000 }, () => {
    let cp: ControlPlane | undefined;
    let stateDir = "";
    let cacheDir = "";
    before(async () => {
        if (missing) return;
        stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-lifecycle-"));
        cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-lifecycle-kcache-"));
        cp = await startControlPlane({ unpullableImages: [BAD_IMAGE], podStageDelay: { minMs: 300, maxMs: 1500 } });
        await cp.addGpuNode("gpu-1", { gpus: 1 });
        await cp.setPodLogs("smi", {}, SMI_LOG);
    });
    after(async () => {
        await cp?.stop();
        for (const d of [stateDir, cacheDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
    });

    /** Runs scripts/SCRIPT with ENV as the program does (inputs in the environment, the real kubectl on PATH). */
    function script(name: string, env: Record<string, string>, timeoutMs = 300_000): Promise<Run> {
        assert.ok(cp);
        return new Promise((resolve) => {
            execFile("bash", [path.join(ROOT, "scripts", name)], {
                cwd: ROOT,
                timeout: timeoutMs,
                maxBuffer: 64 * 1024 * 1024,
                encoding: "utf8",
                env: {
                    PATH: `${path.dirname(cp!.kubectlPath)}:/usr/bin:/bin`,
                    HOME: cacheDir,
                    KUBECACHEDIR: cacheDir,
                    GM_STATE_DIR: stateDir,
                    GM_KUBECONFIG: cp!.kubeconfig,
                    ...env,
                },
            }, (err, stdout, stderr) => {
                const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null) : 0;
                resolve({ code, stdout, stderr });
            });
        });
    }

    /** The Job GpuVerification would declare on this `up` (the failed-attempt count read as its probe reads it). */
    async function desiredJob(namespace: string, settings: VerificationSettings): Promise<JobManifest> {
        const observed = await script("verification-observe.sh", { GM_PROFILE: PROFILE });
        assert.equal(observed.code, 0, observed.stderr);
        const attempts = Number(parseSummary(observed.stdout, "verification-observe.sh").failedAttempts);
        const spec = verificationJobSpec({ gpus: settings.gpus, image: settings.image ?? IMAGE, timeoutSeconds: settings.timeoutSeconds ?? 600 });
        const manifest = buildVerificationJob(spec, namespace);
        const name = verificationJobName({ ...spec, rerunToken: rerunToken([DRIVER, [H200_UUID], attempts, ""]) });
        return { ...manifest, metadata: { ...manifest.metadata, name } };
    }

    /** The Kubernetes provider's create: a POST, so an object of that name that still exists fails it. */
    async function providerCreate(job: JobManifest): Promise<Run & { uid: string }> {
        const res = await cp!.kubectl(["create", "-f", "-"], { input: JSON.stringify(job) });
        if (res.code !== 0) return { ...res, uid: "" };
        const uid = (await cp!.kubectlOk(["-n", job.metadata.namespace, "get", "job", job.metadata.name, "-o", "jsonpath={.metadata.uid}"])).trim();
        return { ...res, uid };
    }

    /** The Kubernetes provider's delete: foreground, awaited until the object is gone; gone already counts as deleted. */
    async function providerDelete(job: JobState): Promise<void> {
        await cp!.kubectlOk(["-n", job.namespace, "delete", "job", job.name, "--ignore-not-found", "--cascade=foreground", "--wait=true", "--timeout=120s"]);
    }

    /** The wait step, as GpuVerification runs it. */
    function waitStep(job: JobState, extra: Record<string, string> = {}): Promise<Run> {
        return script("verification-wait.sh", {
            GM_PROFILE: PROFILE, GM_NAMESPACE: job.namespace, GM_JOB_NAME: job.name, GM_JOB_UID: job.uid,
            GM_TIMEOUT_SECONDS: "600", GM_POLL_SECONDS: "1", ...extra,
        });
    }

    /** The verdict GpuVerification makes from the wait step's summary. */
    function verdict(wait: Run, settings: VerificationSettings) {
        const s = parseSummary(wait.stdout, "verification-wait.sh");
        return evaluateVerification({
            jobSucceeded: s.succeeded === true, log: typeof s.log === "string" ? s.log : "", node: typeof s.node === "string" ? s.node : null,
            image: settings.image ?? IMAGE, minGpus: settings.gpus, hostDriverVersion: DRIVER, hostGpuUuids: [H200_UUID],
            failure: typeof s.failure === "string" ? s.failure : null, verifiedAt: typeof s.verifiedAt === "string" ? s.verifiedAt : null,
        });
    }

    /**
     * One `pulumi up` of the verification: the Job's step (none, create, or delete-first replace), the
     * wait step when the Job changed, then the gate. Returns the new state and what each step said.
     */
    async function up(namespace: string, previous: JobState | undefined, settings: VerificationSettings) {
        const desired = await desiredJob(namespace, settings);
        if (previous && previous.name === desired.metadata.name) return { state: previous, changed: false as const };
        // deleteBeforeReplace: the old Job is gone before the new one is created.
        if (previous) await providerDelete(previous);
        const created = await providerCreate(desired);
        assert.equal(created.code, 0, `create of ${desired.metadata.name} failed: ${created.stderr}`);
        const state: JobState = { namespace, name: desired.metadata.name, uid: created.uid };
        const wait = await waitStep(state);
        assert.equal(wait.code, 0, `the wait step records a failed verification as its result: ${wait.stderr}`);
        const result = verdict(wait, settings);
        // As GpuVerification runs it: with the profile, so a failed verdict is noted for the next up.
        const gate = await script("verification-gate.sh", {
            GM_PROFILE: PROFILE, GM_PASSED: String(result.passed), GM_REASONS: result.reasons.join("\n"), GM_JOB: `${namespace}/${state.name}`, GM_VERIFIED_AT: result.verifiedAt ?? "",
        });
        return { state, changed: true as const, wait, result, upFailed: gate.code !== 0, gate };
    }

    const namespace = async (token: string): Promise<string> => {
        const ns = verificationNamespace(token);
        await cp!.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        return ns;
    };
    const jobsIn = async (ns: string) => (await cp!.kubectlOk(["-n", ns, "get", "jobs", "-o", "name"])).trim().split("\n").filter(Boolean);
    const podsIn = async (ns: string) => (await cp!.kubectlOk(["-n", ns, "get", "pods", "-o", "name"])).trim().split("\n").filter(Boolean);

    /** Polls until CHECK holds (120 s, generous on 2 busy cores), failing with WHAT. */
    async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline) {
            if (await check()) return;
            await new Promise((r) => setTimeout(r, 500));
        }
        assert.fail(`not within 120 s: ${what}`);
    }

    it("item 1: gpus 1 → 2 (Insufficient on a 1-GPU node) → 1 converges: no AlreadyExists, the final Job passes", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = await namespace("item1");
        const first = await up(ns, undefined, { gpus: 1 });
        assert.ok(first.changed);
        assert.equal(first.result.passed, true, first.result.reasons.join("\n"));
        assert.equal(first.upFailed, false);
        assert.equal((await up(ns, first.state, { gpus: 1 })).changed, false, "a re-run with nothing changed is a no-op");

        const second = await up(ns, first.state, { gpus: 2 });
        assert.ok(second.changed);
        assert.notEqual(second.state.name, first.state.name);
        assert.equal(second.result.passed, false);
        assert.match(second.result.reasons[0], /stuck: Unschedulable for \d+s \(found: Unschedulable: 0\/1 nodes are available: 1 Insufficient nvidia\.com\/gpu/);
        assert.equal(second.upFailed, true, "the gate fails `pulumi up` with the reasons");
        assert.match(second.gate.stderr, /GPU verification FAILED/);
        assert.equal(parseSummary(second.wait.stdout, "x").jobDeleted, true);

        const third = await up(ns, second.state, { gpus: 1 });
        assert.ok(third.changed);
        assert.notEqual(third.state.name, first.state.name, "after a failed attempt the same settings give a fresh Job");
        assert.equal(third.result.passed, true, third.result.reasons.join("\n"));
        assert.equal(third.upFailed, false);
        assert.deepEqual(await jobsIn(ns), [`job.batch/${third.state.name}`], "only the Job in state exists");
        assert.equal((await up(ns, third.state, { gpus: 1 })).changed, false, "and the next up is a no-op");
    });

    it("item 1, control: a Job left behind by a failed up (create-before-delete defers the delete) makes the same name fail with AlreadyExists", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        // Proves the create step above would notice a collision: the API server refuses a second Job of a name.
        const ns = await namespace("item1-control");
        const job = await desiredJob(ns, { gpus: 1, timeoutSeconds: 601 });
        assert.equal((await providerCreate(job)).code, 0);
        const again = await providerCreate(job);
        assert.notEqual(again.code, 0);
        assert.match(again.stderr, /AlreadyExists|already exists/);
        await providerDelete({ namespace: ns, name: job.metadata.name, uid: "" });
    });

    it("item 3: a pod stuck pulling its image gives up with diagnostics, deletes our Job (freeing the GPU) and says when the holder is ours", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = await namespace("item3");
        const bad = await desiredJob(ns, { gpus: 1, image: BAD_IMAGE });
        const badState = { namespace: ns, name: bad.metadata.name, uid: (await providerCreate(bad)).uid };
        assert.notEqual(badState.uid, "");
        // Its pod is bound to the only GPU node and holds the GPU while the image pull fails.
        await eventually("the stuck pod is bound and pulling", async () =>
            /ErrImagePull|ImagePullBackOff/.test(await cp!.kubectlOk(["-n", ns, "get", "pods", "-l", `job-name=${bad.metadata.name}`, "-o",
                "jsonpath={.items[*].spec.nodeName} {.items[*].status.containerStatuses[*].state.waiting.reason}"])));

        // Another of our Jobs (e.g. the corrected run while the broken one still holds the GPU): unschedulable, and it says who holds it.
        const blocked = await desiredJob(ns, { gpus: 1, timeoutSeconds: 599 });
        const blockedState = { namespace: ns, name: blocked.metadata.name, uid: (await providerCreate(blocked)).uid };
        const heldRun = await waitStep(blockedState);
        const held = parseSummary(heldRun.stdout, "verification-wait.sh");
        assert.equal(held.succeeded, false);
        assert.match(String(held.failure), /Insufficient nvidia\.com\/gpu/);
        assert.match(String(held.failure), new RegExp(`the GPU is held by our own pod\\(s\\) ${ns}/${bad.metadata.name}-[a-z0-9]+ \\(made by this program`));
        assert.doesNotMatch(String(held.failure), /another pod/);
        assert.match(heldRun.stderr, new RegExp(`pods holding nvidia\\.com/gpu:\\n  \\| ${ns}/${bad.metadata.name}-[a-z0-9]+ on gpu-1: nvidia\\.com/gpu 1 \\(ours\\)`));

        // The broken Job: given up on within the stuck time (not the 600 s deadline), diagnostics printed, Job deleted.
        const started = Date.now();
        const badRun = await waitStep(badState);
        assert.ok(Date.now() - started < 120_000, `gave up after ${Date.now() - started} ms, not at the deadline`);
        const s = parseSummary(badRun.stdout, "verification-wait.sh");
        assert.equal(s.succeeded, false);
        assert.equal(s.jobDeleted, true);
        assert.match(String(s.failure), /^the verification pod \S+ is stuck: (ErrImagePull|ImagePullBackOff) for \d+s \(found: (ErrImagePull|ImagePullBackOff): .*manifest for nvidia\/cuda:no-such-tag not found/);
        assert.match(String(s.failure), /the node cannot pull 'nvidia\/cuda:no-such-tag'/);
        assert.match(badRun.stderr, /diagnostics for Job /);
        assert.match(badRun.stderr, /events of pod \S+:\n(.*\n)*.*Failed to pull image "nvidia\/cuda:no-such-tag"/);
        assert.match(badRun.stderr, /deleted Job .* so that it holds no GPU/);
        await eventually("the broken Job and its pod are gone", async () =>
            !(await jobsIn(ns)).includes(`job.batch/${bad.metadata.name}`) && !(await podsIn(ns)).some((p) => p.includes(bad.metadata.name)));

        // The next run gets a fresh Job (two failed attempts noted) and schedules on the freed GPU.
        const next = await desiredJob(ns, { gpus: 1 });
        assert.ok(![bad.metadata.name, blocked.metadata.name].includes(next.metadata.name));
        const nextState = { namespace: ns, name: next.metadata.name, uid: (await providerCreate(next)).uid };
        const nextRun = await waitStep(nextState);
        assert.equal(verdict(nextRun, { gpus: 1 }).passed, true, nextRun.stderr);
    });

    it("item 4: a Job deleted out of band: the wait says so; recreated by `up --refresh` it has a new uid, and the wait gives a new verdict", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = await namespace("item4");
        const first = await up(ns, undefined, { gpus: 1 });
        assert.ok(first.changed);
        assert.equal(first.result.passed, true, first.result.reasons.join("\n"));
        const firstPod = parseSummary(first.wait.stdout, "x").pod;

        await cp.kubectlOk(["-n", ns, "delete", "job", first.state.name, "--cascade=foreground", "--wait=true"]);
        // Were the wait step to run now against the Job in state, it would not invent a verdict.
        // (GM_PROFILE empty: this artificial run notes no failed attempt, which would rename the Job.)
        const gone = parseSummary((await waitStep(first.state, { GM_STUCK_SECONDS: "3", GM_PROFILE: "" })).stdout, "x");
        assert.equal(gone.succeeded, false);
        assert.match(String(gone.failure), /^Job \S+ does not exist .*run 'pulumi up --refresh'/);

        // `up --refresh`: refresh drops the Job from state (gone), the up creates it again: same name, new uid.
        const desired = await desiredJob(ns, { gpus: 1 });
        assert.equal(desired.metadata.name, first.state.name, "nothing the name depends on changed (a missing Job is no failed attempt)");
        // Its pod keeps running (holding the GPU) until deleted, and then takes 25 s to terminate (kwok's
        // pod-complete and pod-delete delays), as a container whose PID 1 (`sh -c`) ignores SIGTERM takes
        // its grace period with a real kubelet.
        (desired.spec.template as { metadata: { annotations?: Record<string, string> } }).metadata.annotations = {
            "pod-complete.stage.kwok.x-k8s.io/delay": "300s", "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "300s",
            "pod-delete.stage.kwok.x-k8s.io/delay": "25s",
        };
        const recreated = await providerCreate(desired);
        assert.equal(recreated.code, 0, recreated.stderr);
        assert.notEqual(recreated.uid, first.state.uid, "the wait step's GM_JOB_UID input changes, so it runs again");
        const state = { namespace: ns, name: desired.metadata.name, uid: recreated.uid };

        let oldPod = "";
        await eventually("the recreated Job's pod runs (and holds the GPU)", async () => {
            const [name, phase] = (await cp!.kubectlOk(["-n", ns, "get", "pods", "-l", `controller-uid=${recreated.uid}`, "-o",
                "jsonpath={.items[*].metadata.name} {.items[*].status.phase}"])).split(" ");
            oldPod = name;
            return phase === "Running";
        });
        // The old uid no longer describes the cluster's Job: the wait refuses it rather than reuse it.
        const stale = parseSummary((await waitStep({ ...state, uid: first.state.uid }, { GM_PROFILE: "" })).stdout, "x");
        assert.equal(stale.succeeded, false);
        assert.match(String(stale.failure), /is not the one Pulumi created .*uid .*, Pulumi created /);
        // That run gave up on (and deleted) the recreated Job: the next refresh + up creates it again at
        // once. The deleted Job's pod is still terminating, holding the GPU for 25 s: the new wait waits
        // for our terminating pod instead of calling its own pod stuck.
        await eventually("the Job the stale run gave up on is gone", async () => (await jobsIn(ns)).length === 0);
        const again = await desiredJob(ns, { gpus: 1 });
        const againCreated = await providerCreate(again);
        assert.equal(againCreated.code, 0, againCreated.stderr);
        const rerun = await waitStep({ namespace: ns, name: again.metadata.name, uid: againCreated.uid });
        const s = parseSummary(rerun.stdout, "x");
        assert.equal(s.succeeded, true, rerun.stderr);
        // It watched its own Job's pod, never the terminating one of the deleted Job of the same name.
        assert.ok(!rerun.stderr.includes(`pod ${oldPod}:`), rerun.stderr);
        assert.match(rerun.stderr, new RegExp(`waits for the GPU that our terminating pod\\(s\\) ${ns}/${oldPod} still hold`));
        assert.notEqual(s.pod, firstPod, "the verdict comes from the new Job's pod");
        assert.equal(verdict(rerun, { gpus: 1 }).passed, true);
    });

    it("item 5: a node whose agent is dead: stuck after ~15 s without a container status, the node's Ready condition shown, and the re-run starts a fresh Job", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = await namespace("item5");
        // A node kwok does not manage: no kubelet behind it. It says Ready (as a node does until the
        // node lifecycle controller's grace period runs out), so the scheduler binds pods to it.
        await cp.kubectlOk(["cordon", "gpu-1"]);
        try {
            const res = { cpu: "16", memory: "64Gi", pods: "110", "nvidia.com/gpu": "1" };
            const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
            await cp.apply({
                apiVersion: "v1", kind: "Node",
                metadata: { name: "gpu-dead", labels: { "kubernetes.io/hostname": "gpu-dead", "kubernetes.io/os": "linux" } },
                status: {
                    capacity: res, allocatable: res,
                    addresses: [{ type: "InternalIP", address: "127.0.0.1" }],
                    conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status", lastHeartbeatTime: now, lastTransitionTime: now }],
                },
            });
            await eventually("gpu-dead schedulable (no not-ready taint)", async () =>
                !(await cp!.kubectlOk(["get", "node", "gpu-dead", "-o", "jsonpath={.spec.taints[*].key}"])).includes("not-ready"));

            const job = await desiredJob(ns, { gpus: 1 });
            const state = { namespace: ns, name: job.metadata.name, uid: (await providerCreate(job)).uid };
            const started = Date.now();
            const run = await waitStep(state);
            const elapsed = Date.now() - started;
            const s = parseSummary(run.stdout, "verification-wait.sh");
            assert.equal(s.succeeded, false);
            assert.ok(elapsed >= 15_000, `waited the stuck time first (${elapsed} ms)`);
            assert.ok(elapsed < 200_000, `gave up after ${elapsed} ms, long before the 600 s deadline`);
            assert.match(String(s.failure), /^the verification pod \S+ is stuck: NoContainerStatus for (1[5-9]|[2-9]\d)s \(found: NoContainerStatus: pod \S+ was scheduled to node gpu-dead but has no container status after \d+s; node Ready=(True \(KubeletReady\)|Unknown \(NodeStatusUnknown\))/);
            assert.match(String(s.failure), /the node agent \(kubelet\) on node gpu-dead does not run the pod/);
            assert.match(run.stderr, /node gpu-dead: Ready=/);
            assert.equal(s.jobDeleted, true);

            // The re-run: a fresh Job (the failed attempt is noted), which runs once the node is fixed
            // (here: the dead node replaced, the pod GC removing what was left on it).
            const rerun = await desiredJob(ns, { gpus: 1 });
            assert.notEqual(rerun.metadata.name, job.metadata.name);
            await cp.kubectlOk(["delete", "node", "gpu-dead", "--wait=true"]);
        } finally {
            await cp.kubectlOk(["uncordon", "gpu-1"]);
        }
        const rerun = await desiredJob(ns, { gpus: 1 });
        const created = await providerCreate(rerun);
        assert.equal(created.code, 0, created.stderr);
        const run = await waitStep({ namespace: ns, name: rerun.metadata.name, uid: created.uid });
        assert.equal(verdict(run, { gpus: 1 }).passed, true, run.stderr);
    });
});
