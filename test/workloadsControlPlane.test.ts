// vectorAdd/nbody Jobs on a real Kubernetes control plane (API server, scheduler, Job controller) with kwok GPU
// nodes (test/harness/controlPlane.ts): the real verification-wait.sh and the real kubectl wait for each Job and
// read its log, which kwok serves from the outputs recorded on an H200 and published (test/fixtures/cuda-samples),
// and those logs become gpuVerification.workloads exactly as the program builds it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import { parseSummary } from "../components/hostCommand";
import { buildVerificationJob } from "../components/verificationJob";
import { evaluateVerification } from "../components/verificationResult";
import { buildWorkloadJob, WorkloadJobSpec } from "../components/workloadJob";
import { workloadImageKey, workloadVerdictFromSummary } from "../components/workloadRun";
import { DEFAULT_WORKLOAD_IMAGES } from "../components/workloads";
import { withWorkloads } from "../components/workloadVerdict";
import { ControlPlane, controlPlaneMissing, startControlPlane } from "./harness/controlPlane";


const ROOT = path.resolve(__dirname, "..");
const SAMPLES = path.join(__dirname, "fixtures", "cuda-samples");
const sample = (name: string) => fs.readFileSync(path.join(SAMPLES, name), "utf8");
const SMI_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";

const VA_IMAGE = DEFAULT_WORKLOAD_IMAGES.vectorAdd;
const NB_IMAGE = DEFAULT_WORKLOAD_IMAGES.nbody;
const SMI_IMAGE = DEFAULT_WORKLOAD_IMAGES["nvidia-smi"];
// A vectorAdd image whose container exits 1, as vectorAdd does on "no kernel image" (kwok's failing-image Stage).
const VA_BROKEN_IMAGE = "registry.example:5000/lab/vectoradd:sm75-only";
// A vectorAdd image the node cannot pull (the harness's ErrImagePull/ImagePullBackOff stage).
const VA_UNPULLABLE_IMAGE = "registry.example:5000/lab/vectoradd:typo";

// Without the real tools: skipped here, failed under CI (the harness's rule for every real-tool test).
const absent = controlPlaneMissing();
const missing = absent && !process.env.CI ? absent : undefined;

/**
 * Runs the real verification-wait.sh against the control plane; resolves with its summary line. EXTRA: more
 * environment, as the program passes it (GM_IMAGE_KEY for a workload's Job).
 */
function waitFor(cp: ControlPlane, stateDir: string, namespace: string, job: string, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
        execFile("bash", [path.join(ROOT, "scripts", "verification-wait.sh")], {
            cwd: ROOT,
            timeout: 120_000,
            env: {
                PATH: `${path.dirname(cp.kubectlPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
                HOME: stateDir,
                GM_STATE_DIR: stateDir,
                GM_KUBECONFIG: cp.kubeconfig,
                GM_PROFILE: "lab",
                GM_NAMESPACE: namespace,
                GM_JOB_NAME: job,
                GM_TIMEOUT_SECONDS: "90",
                ...extra,
                ...cp.kubectlEnv(),
            },
        }, (err, stdout, stderr) => {
            if (err) reject(new Error(`verification-wait.sh failed: ${err.message}\n${stderr}`));
            else resolve(parseSummary(stdout, "verification-wait.sh"));
        });
    });
}

describe("workloads on a real control plane with kwok GPU nodes", { skip: missing }, () => {
    let cp: ControlPlane;
    let stateDir: string;
    before(async () => {
        if (absent) throw new Error(absent);
        stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-wl-"));
        cp = await startControlPlane({
            failingImages: { [VA_BROKEN_IMAGE]: 1 }, unpullableImages: [VA_UNPULLABLE_IMAGE], podStageDelay: { minMs: 300, maxMs: 1200 },
        });
        await cp.addGpuNode("lab", { gpus: 1 });
    });
    after(async () => {
        await cp?.stop();
        if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    });

    /** Creates NS, the nvidia-smi Job and the given workload Jobs, with kwok serving each container its log. */
    async function runAll(ns: string, workloads: Array<[WorkloadJobSpec, string]>, waitEnv: Record<string, string> = {}) {
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        await cp.setPodLogs(`${ns}-smi`, { namespaces: [ns], containers: ["nvidia-smi"] }, SMI_LOG);
        for (const [spec, log] of workloads) {
            await cp.setPodLogs(`${ns}-${spec.workload.toLowerCase()}`, { namespaces: [ns], containers: [spec.workload.toLowerCase()] }, log);
        }
        // One after the other, as the program chains them: each Job is created once the previous wait returned.
        const smiJob = buildVerificationJob({ image: SMI_IMAGE, gpus: 1, timeoutSeconds: 90, runId: "" }, ns);
        await cp.apply(smiJob);
        const smi = await waitFor(cp, stateDir, ns, smiJob.metadata.name);
        const others: Array<[WorkloadJobSpec["workload"], ReturnType<typeof workloadVerdictFromSummary>]> = [];
        for (const [spec] of workloads) {
            const job = buildWorkloadJob(spec, ns);
            await cp.apply(job);
            const summary = await waitFor(cp, stateDir, ns, job.metadata.name, { GM_IMAGE_KEY: workloadImageKey(spec.workload), ...waitEnv });
            others.push([spec.workload, workloadVerdictFromSummary(spec.workload, spec.image, summary)]);
        }
        const base = evaluateVerification({
            jobSucceeded: smi.succeeded === true, log: String(smi.log ?? ""), node: typeof smi.node === "string" ? smi.node : null,
            image: SMI_IMAGE, minGpus: 1, hostDriverVersion: "580.159.04", hostGpuUuids: [H200_UUID],
        });
        return withWorkloads(base, true, null, others, ["nvidia-smi", ...workloads.map(([s]) => s.workload)]);
    }

    it("nvidia-smi, vectorAdd and nbody complete; their logs become gpuVerification.workloads", async () => {
        const result = await runAll("wl-pass", [
            [{ workload: "vectorAdd", image: VA_IMAGE, timeoutSeconds: 90, runId: "" }, sample("vectoradd-h200-sm90.txt")],
            [{ workload: "nbody", image: NB_IMAGE, timeoutSeconds: 90, runId: "" }, sample("nbody-a100-80gb-pcie-docker-partial.txt")],
        ]);
        assert.equal(result.passed, true, result.reasons.join("\n"));
        assert.deepEqual(Object.keys(result.workloads), ["nvidia-smi", "vectorAdd", "nbody"]);
        const va = result.workloads.vectorAdd!;
        assert.equal(va.passed, true);
        assert.equal(va.log, sample("vectoradd-h200-sm90.txt"), "the whole log, as kwok served it");
        assert.equal(va.image, VA_IMAGE);
        // kwok's stages give the container distinct start and finish times (whole seconds).
        assert.ok(va.durationSeconds !== null && va.durationSeconds >= 0 && va.durationSeconds < 60, String(va.durationSeconds));
        const nb = result.workloads.nbody!;
        assert.equal(nb.passed, true);
        assert.equal(nb.metrics?.device, "NVIDIA A100 80GB PCIe");
        assert.equal(nb.metrics?.gflops, 13719.437);
        assert.equal(nb.metrics?.fractionOfReference, 1);
        assert.equal(result.workloads["nvidia-smi"]?.passed, true);
        assert.deepEqual(result.gpus.map((g) => g.uuid), [H200_UUID]);
    });

    it("a failing vectorAdd (exit 1, 'no kernel image' log) makes the top-level passed false with the quoted reason", async () => {
        const result = await runAll("wl-fail", [
            [{ workload: "vectorAdd", image: VA_BROKEN_IMAGE, timeoutSeconds: 90, runId: "" }, sample("vectoradd-h200-sm75-sass-only.txt")],
        ]);
        assert.equal(result.passed, false);
        assert.equal(result.workloads["nvidia-smi"]?.passed, true, "nvidia-smi itself passed");
        const va = result.workloads.vectorAdd!;
        assert.equal(va.passed, false);
        assert.match(result.reasons[0],
            /^vectorAdd: vectorAdd failed: "Failed to launch vectorAdd kernel \(error code no kernel image is available for execution on the device\)!" \(the image's CUDA code was not built/);
        assert.ok(result.reasons.some((r) => /^vectorAdd: the vectorAdd Job did not complete successfully \(verification Job .* failed/.test(r)), result.reasons.join("\n"));
        // The failed attempt is noted (the next `up` then gets a fresh Job) and the Job was deleted to free the GPU.
        assert.match(fs.readFileSync(path.join(stateDir, "profiles", "lab", "verification-failed-attempts"), "utf8"), /^wl-fail\/gpu-verify-vectoradd-/m);
    });

    it("a vectorAdd image the node cannot pull fails with the fix naming verification.images.vectorAdd", async () => {
        const result = await runAll("wl-pull", [
            [{ workload: "vectorAdd", image: VA_UNPULLABLE_IMAGE, timeoutSeconds: 90, runId: "" }, ""],
        ], { GM_STUCK_SECONDS: "3" }); // given up on after 3 s stuck (the program keeps the 15 s default)
        assert.equal(result.passed, false);
        const va = result.workloads.vectorAdd!;
        assert.equal(va.passed, false);
        assert.ok(va.reasons.some((r) => r.includes("is stuck: ") && /(ErrImagePull|ImagePullBackOff)/.test(r)), va.reasons.join("\n"));
        assert.ok(va.reasons.some((r) => r.includes(`the node cannot pull '${VA_UNPULLABLE_IMAGE}': check the image name (gpu-minikube:verification.images.vectorAdd)`)),
            va.reasons.join("\n"));
        assert.ok(!va.reasons.some((r) => r.includes("gpu-minikube:verification.image)")), "not the nvidia-smi image's key");
    });
});
