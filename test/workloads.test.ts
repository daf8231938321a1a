// Workload definitions, Jobs and verdicts for vectorAdd and nbody, from real outputs (test/fixtures/cuda-samples).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Job } from "kubernetes-models/batch/v1";

import { parseNbody } from "../components/cudaSamples";
import { gpuModelKey, NBODY_REFERENCES, nbodyReferenceFor } from "../components/nbodyReference";
import { verificationJobName } from "../components/verificationJob";
import { buildWorkloadJob, workloadJobName, WorkloadJobSpec } from "../components/workloadJob";
import { DEFAULT_WORKLOAD_IMAGES, DEFAULT_WORKLOADS, NBODY_NUM_BODIES } from "../components/workloads";
import { combineWorkloads, evaluateNbody, evaluateVectorAdd, WorkloadEvidence } from "../components/workloadVerdict";

type JobInit = ConstructorParameters<typeof Job>[0];
const validate = (job: unknown) => assert.doesNotThrow(() => new Job(job as JobInit).validate());

const FIXTURES = join(__dirname, "fixtures", "cuda-samples");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

const VA_IMAGE = DEFAULT_WORKLOAD_IMAGES.vectorAdd;
const NB_IMAGE = DEFAULT_WORKLOAD_IMAGES.nbody;

function evidence(log: string, jobSucceeded: boolean, image = VA_IMAGE, extra: Partial<WorkloadEvidence> = {}): WorkloadEvidence {
    return { jobSucceeded, log, image, durationSeconds: 2, ...extra };
}

// ---------------------------------------------------------------------------------------------------------------
// Definitions and Jobs

test("defaults: nvidia-smi then vectorAdd; images are NVIDIA's public tags", () => {
    assert.deepEqual(DEFAULT_WORKLOADS, ["nvidia-smi", "vectorAdd"]);
    assert.deepEqual(DEFAULT_WORKLOAD_IMAGES, {
        "nvidia-smi": "nvidia/cuda:12.5.0-base-ubuntu22.04",
        vectorAdd: "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0",
        nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody-cuda11.7.1",
    });
    assert.equal(NBODY_NUM_BODIES % 256, 0, "nbody rounds other counts up and prints a warning");
});

const VA_SPEC: WorkloadJobSpec = { workload: "vectorAdd", image: VA_IMAGE, timeoutSeconds: 600, runId: "" };
const NB_SPEC: WorkloadJobSpec = { workload: "nbody", image: NB_IMAGE, timeoutSeconds: 600, runId: "" };

test("vectorAdd Job: its image, one GPU, the image's own entrypoint, our labels and no retries", () => {
    const job = buildWorkloadJob(VA_SPEC, "gpu-minikube-verification-abcd1234");
    assert.match(job.metadata.name, /^gpu-verify-vectoradd-[0-9a-f]{10}$/);
    assert.equal(job.metadata.namespace, "gpu-minikube-verification-abcd1234");
    assert.equal(job.metadata.labels["app.kubernetes.io/name"], "gpu-verification");
    assert.equal(job.metadata.labels["app.kubernetes.io/component"], "vectoradd");
    assert.equal(job.metadata.annotations["pulumi.com/skipAwait"], "true");
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.activeDeadlineSeconds, 600);
    const [c] = job.spec.template.spec.containers;
    assert.equal(c.image, VA_IMAGE);
    assert.equal(c.imagePullPolicy, "IfNotPresent");
    assert.equal("command" in c, false);
    assert.deepEqual(c.resources, { limits: { "nvidia.com/gpu": "1" } });
    validate(job);
});

test("with time-slicing renamed, the Job asks for one share of nvidia.com/gpu.shared", () => {
    const job = buildWorkloadJob({ ...VA_SPEC, resourceName: "nvidia.com/gpu.shared" });
    assert.deepEqual(job.spec.template.spec.containers[0].resources, { limits: { "nvidia.com/gpu.shared": "1" } });
    validate(job);
});

test("nbody Job: FP32 benchmark with a fixed body count on one GPU", () => {
    const job = buildWorkloadJob(NB_SPEC);
    assert.match(job.metadata.name, /^gpu-verify-nbody-[0-9a-f]{10}$/);
    const [c] = job.spec.template.spec.containers;
    assert.deepEqual((c as { command?: string[] }).command, ["/cuda-samples/nbody", "-benchmark", "-numbodies=204800"]);
    assert.deepEqual(c.resources, { limits: { "nvidia.com/gpu": "1" } });
    validate(job);
});

test("Job names change with image and runId, differ per workload and from the nvidia-smi Job, fit a label", () => {
    const names = new Set([
        workloadJobName(VA_SPEC), workloadJobName(NB_SPEC),
        workloadJobName({ ...VA_SPEC, image: "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0-ubi8" }),
        workloadJobName({ ...VA_SPEC, runId: "again" }),
        verificationJobName({ image: VA_IMAGE, gpus: 1, timeoutSeconds: 600, runId: "" }),
    ]);
    assert.equal(names.size, 5);
    for (const n of names) assert.ok(n.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n), n);
    // A Job that hit its deadline stays Failed: a new deadline, or a new rerun token (host facts, failed attempts), is a new Job.
    assert.notEqual(workloadJobName(VA_SPEC), workloadJobName({ ...VA_SPEC, timeoutSeconds: 30 }));
    assert.notEqual(workloadJobName(VA_SPEC), workloadJobName({ ...VA_SPEC, rerunToken: "0123456789abcdef" }));
    assert.equal(workloadJobName(VA_SPEC), workloadJobName({ ...VA_SPEC, rerunToken: "" }));
    assert.equal(workloadJobName(VA_SPEC), workloadJobName({ ...VA_SPEC, resourceName: "nvidia.com/gpu" }));
    assert.notEqual(workloadJobName(VA_SPEC), workloadJobName({ ...VA_SPEC, resourceName: "nvidia.com/gpu.shared" }));
});

// ---------------------------------------------------------------------------------------------------------------
// vectorAdd verdicts

test("vectorAdd passes on its H200 success log and exit 0", () => {
    const v = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm90.txt"), true));
    assert.deepEqual(v, { passed: true, reasons: [], image: VA_IMAGE, durationSeconds: 2, log: fixture("vectoradd-h200-sm90.txt") });
});

test("vectorAdd 'no kernel image' fails with the quoted line and what it means", () => {
    const v = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm75-sass-only.txt"), false, VA_IMAGE,
        { failure: "BackoffLimitExceeded: Job has reached the specified backoff limit (exit 1)" }));
    assert.equal(v.passed, false);
    assert.deepEqual(v.reasons, [
        "vectorAdd failed: \"Failed to launch vectorAdd kernel (error code no kernel image is available for execution on the device)!\" " +
        "(the image's CUDA code was not built for this GPU's architecture (compute capability): use an image built for it)",
        "the vectorAdd Job did not complete successfully (BackoffLimitExceeded: Job has reached the specified backoff limit (exit 1))",
    ]);
});

test("vectorAdd driver too old (published pod log) fails with the driver hint", () => {
    const v = evaluateVectorAdd(evidence(fixture("vectoradd-k8s-driver-insufficient-gpu-operator-343.txt"), false));
    assert.equal(v.passed, false);
    assert.match(v.reasons[0], /^vectorAdd failed: "Failed to allocate device vector A \(error code CUDA driver version is insufficient for CUDA runtime version\)!" \(.*525\.60\.13/);
});

test("vectorAdd with no GPU in the container names the device plugin", () => {
    const v = evaluateVectorAdd(evidence(fixture("vectoradd-h200-no-visible-device.txt"), false));
    assert.match(v.reasons[0], /no CUDA-capable device is detected.*the container saw no GPU/);
});

test("vectorAdd exit 0 without Test PASSED is not a pass (truncated log)", () => {
    const log = "[Vector addition of 50000 elements]\nCopy input data from the host memory to the CUDA device\n";
    const v = evaluateVectorAdd(evidence(log, true));
    assert.equal(v.passed, false);
    assert.deepEqual(v.reasons, ["vectorAdd printed no \"Test PASSED\" line; its last line was \"Copy input data from the host memory to the CUDA device\""]);
});

test("vectorAdd Test PASSED but a failed Job is not a pass", () => {
    const v = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm90.txt"), false));
    assert.equal(v.passed, false);
    assert.deepEqual(v.reasons, ["the vectorAdd Job did not complete successfully"]);
});

test("a failed Job's reason keeps the wait step's whole failure, fix included (it comes after a long found state)", () => {
    // As verification-wait.sh words an image pull that never succeeds (found: the kubelet's message).
    const failure = "the verification pod gpu-verify-vectoradd-dee13cd258-mx2dk is stuck: ImagePullBackOff for 15s " +
        "(found: ImagePullBackOff: Back-off pulling image \"registry.example:5000/lab/vectoradd:typo\": ErrImagePull: Error response " +
        "from daemon: manifest for registry.example:5000/lab/vectoradd:typo not found: manifest unknown: manifest unknown). " +
        "Fix: the node cannot pull 'registry.example:5000/lab/vectoradd:typo': check the image name (gpu-minikube:verification.images.vectorAdd) " +
        "and the host's network access to its registry (diagnostics above)";
    const v = evaluateVectorAdd(evidence("", false, VA_IMAGE, { failure: `${failure}\n` }));
    assert.deepEqual(v.reasons, [`the vectorAdd Job did not complete successfully (${failure})`, "vectorAdd printed no \"Test PASSED\" line (empty log)"]);
    const long = evaluateNbody(evidence("", false, NB_IMAGE, { failure: "x".repeat(5000) }));
    assert.ok(long.reasons[0].length < 2100, "still bounded");
});

test("vectorAdd with an empty log and a failed Job says both", () => {
    const v = evaluateVectorAdd(evidence("", false));
    assert.deepEqual(v.reasons, ["the vectorAdd Job did not complete successfully", "vectorAdd printed no \"Test PASSED\" line (empty log)"]);
});

test("vectorAdd verdict never throws on garbage", () => {
    for (const g of ["\u0000", "x".repeat(100000), "Failed to (error code ((((", "Test PASSED\nFailed to free device vector A (error code x)!"]) {
        assert.doesNotThrow(() => evaluateVectorAdd(evidence(g, true)));
    }
    // A later failure after Test PASSED still fails.
    assert.equal(evaluateVectorAdd(evidence("Test PASSED\nFailed to free device vector A (error code x)!", true)).passed, false);
});

// ---------------------------------------------------------------------------------------------------------------
// nbody verdicts and references

test("every published reference equals what its fixture says, and is an FP32 run on that GPU", () => {
    assert.ok(NBODY_REFERENCES.length >= 5);
    for (const ref of NBODY_REFERENCES) {
        const r = parseNbody(fixture(ref.fixture));
        assert.equal(r.device, ref.gpu, ref.fixture);
        assert.equal(r.gflops, ref.gflops, ref.fixture);
        assert.equal(r.bodies, ref.bodies, ref.fixture);
        assert.equal(r.precision, "single", ref.fixture);
    }
    assert.equal(nbodyReferenceFor("Tesla T4"), null, "shared-GPU runs are not references");
    assert.equal(nbodyReferenceFor("NVIDIA H200"), null);
    assert.equal(nbodyReferenceFor(null), null);
});

test("a reference matches its board under any driver's spelling of the name, and nothing else", () => {
    // Drivers before the "NVIDIA " prefix printed the first two; today's print the second two.
    assert.equal(nbodyReferenceFor("NVIDIA TITAN X (Pascal)")?.gpu, "TITAN X (Pascal)");
    assert.equal(nbodyReferenceFor("NVIDIA GeForce RTX 2060 with Max-Q Design")?.gpu, "GeForce RTX 2060 with Max-Q Design");
    assert.equal(nbodyReferenceFor("GeForce RTX 2060")?.gpu, "NVIDIA GeForce RTX 2060");
    assert.equal(nbodyReferenceFor("  NVIDIA  A100-SXM4-80GB   ")?.gpu, "NVIDIA A100-SXM4-80GB");
    assert.equal(nbodyReferenceFor("nvidia geforce rtx 4090")?.gpu, "NVIDIA GeForce RTX 4090");
    // Another board of the same family is not the same model.
    assert.equal(nbodyReferenceFor("NVIDIA GeForce RTX 2060 SUPER"), null);
    assert.equal(nbodyReferenceFor("NVIDIA A100-SXM4-40GB"), null);
    assert.equal(nbodyReferenceFor("NVIDIA"), null);
    assert.equal(nbodyReferenceFor(""), null);
    const keys = NBODY_REFERENCES.map((r) => gpuModelKey(r.gpu));
    assert.equal(new Set(keys).size, keys.length, "one reference per model");
});

test("nbody on a TITAN X (Pascal) under a current driver's name is compared with the published run", () => {
    const log = fixture("nbody-titanx-pascal-docker-partial.txt").replace("[TITAN X (Pascal)]", "[NVIDIA TITAN X (Pascal)]");
    const v = evaluateNbody(evidence(log, true, NB_IMAGE));
    assert.equal(v.metrics?.device, "NVIDIA TITAN X (Pascal)");
    assert.equal(v.metrics?.reference?.gpu, "TITAN X (Pascal)");
    assert.equal(v.metrics?.fractionOfReference, 1);
});

test("nbody on an un-shared A100 passes at 100 % of its reference, no warning", () => {
    const v = evaluateNbody(evidence(fixture("nbody-a100-80gb-pcie-docker-partial.txt"), true, NB_IMAGE));
    assert.equal(v.passed, true);
    assert.deepEqual(v.reasons, []);
    assert.deepEqual(v.metrics, {
        device: "NVIDIA A100 80GB PCIe", computeCapability: "8.0", precision: "single", bodies: 110592, iterations: 10,
        totalTimeMs: 178.296, billionInteractionsPerSecond: 685.972, gflops: 13719.437,
        reference: { gpu: "NVIDIA A100 80GB PCIe", gflops: 13719.437, bodies: 110592, source: NBODY_REFERENCES[0].source },
        fractionOfReference: 1, warnings: [],
    });
});

test("nbody under 10 % of the published figure passes with a warning", () => {
    // The A100 PCIe output with a 20x longer time, as a GPU shared by ~20 pods or throttled would print.
    const slow = fixture("nbody-a100-80gb-pcie-docker-partial.txt")
        .replace("178.296 ms", "3565.920 ms").replace("685.972 billion", "34.299 billion").replace("13719.437 single", "685.972 single");
    const v = evaluateNbody(evidence(slow, true, NB_IMAGE));
    assert.equal(v.passed, true);
    assert.equal(v.metrics?.fractionOfReference, 0.05);
    assert.deepEqual(v.metrics?.warnings, [
        `nbody reached 685.972 GFLOP/s, under 10 % of the 13719.437 GFLOP/s published for NVIDIA A100 80GB PCIe (110592 bodies; ${NBODY_REFERENCES[0].source}): ` +
        "a shared (time-sliced) GPU, a throttled GPU or another GPU than expected",
    ]);
});

test("nbody at 11 % of the reference: no warning (the threshold is 10 %)", () => {
    const v = evaluateNbody(evidence(fixture("nbody-a100-80gb-pcie-docker-partial.txt").replace("13719.437 single", "1509.138 single"), true, NB_IMAGE));
    assert.deepEqual(v.metrics?.warnings, []);
    assert.equal(v.metrics?.fractionOfReference, 0.11);
});

test("nbody FP64 figures are not compared with FP32 references", () => {
    const v = evaluateNbody(evidence(fixture("nbody-a100-sxm4-40gb-fp64-k8s-eidf.txt"), true, NB_IMAGE));
    assert.equal(v.passed, true);
    assert.equal(v.metrics?.reference, null);
    assert.equal(v.metrics?.fractionOfReference, null);
});

test("nbody on a time-sliced T4 passes and reports its figure; the sample's own warnings are kept", () => {
    const t4 = evaluateNbody(evidence(fixture("nbody-t4-timesliced-pod1-azure-stack-edge-partial.txt"), true, NB_IMAGE));
    assert.equal(t4.passed, true);
    assert.equal(t4.metrics?.gflops, 1969.171);
    const rtx = evaluateNbody(evidence(fixture("nbody-rtx4080-laptop-k8s-sm89-unknown-partial.txt"), true, NB_IMAGE));
    assert.equal(rtx.metrics?.warnings.length, 3);
    assert.equal(rtx.metrics?.fractionOfReference, 1);
});

test("nbody CUDA error fails with the quoted line; no result line fails too", () => {
    const err = evaluateNbody(evidence(fixture("nbody-gl-interop-error-cuda-samples-28-partial.txt"), false, NB_IMAGE));
    assert.equal(err.passed, false);
    assert.deepEqual(err.reasons, [
        "nbody failed: \"CUDA error at bodysystemcuda_impl.h:183 code=304(cudaErrorOperatingSystem) \"cudaGraphicsGLRegisterBuffer(&m_pGRes[i], m_pbo[i], cudaGraphicsMapFlagsNone)\"\"",
        "the nbody Job did not complete successfully",
    ]);
    const none = evaluateNbody(evidence("> Windowed mode\n", true, NB_IMAGE));
    assert.deepEqual(none.reasons, ["nbody printed no \"GFLOP/s\" result line; its last line was \"> Windowed mode\""]);
    assert.equal(none.metrics?.gflops, null);
});

// ---------------------------------------------------------------------------------------------------------------
// Combining

test("top-level passed needs every workload; reasons name their workload", () => {
    const ok = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm90.txt"), true));
    const bad = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm75-sass-only.txt"), false));
    assert.deepEqual(combineWorkloads({ vectorAdd: ok }), { passed: true, reasons: [] });
    const c = combineWorkloads({ vectorAdd: bad, nbody: evaluateNbody(evidence(fixture("nbody-titanx-pascal-docker-partial.txt"), true, NB_IMAGE)) });
    assert.equal(c.passed, false);
    assert.ok(c.reasons.every((r) => r.startsWith("vectorAdd: ")));
    assert.deepEqual(combineWorkloads({}), { passed: false, reasons: [] });
});

test("withWorkloads: top-level fields kept, workloads in configured order, passed needs all", async () => {
    const { withWorkloads } = await import("../components/workloadVerdict");
    const base = { passed: true, reasons: [], image: "nvidia/cuda:12.5.0-base-ubuntu22.04", log: "smi", driverVersion: "580.159.04" };
    const va = evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm75-sass-only.txt"), false));
    const nb = evaluateNbody(evidence(fixture("nbody-titanx-pascal-docker-partial.txt"), true, NB_IMAGE));
    const out = withWorkloads(base, true, 1.5, [["vectorAdd", va], ["nbody", nb]], ["nbody", "nvidia-smi", "vectorAdd"]);
    assert.deepEqual(Object.keys(out.workloads), ["nbody", "nvidia-smi", "vectorAdd"]);
    assert.equal(out.driverVersion, "580.159.04");
    assert.equal(out.passed, false);
    assert.deepEqual(out.workloads["nvidia-smi"], { passed: true, reasons: [], image: base.image, durationSeconds: 1.5, log: "smi" });
    assert.deepEqual(out.reasons, va.reasons.map((r) => `vectorAdd: ${r}`));
    assert.match(out.reasons[0], /^vectorAdd: vectorAdd failed: "Failed to launch vectorAdd kernel \(error code no kernel image is available/);

    const allOk = withWorkloads(base, true, null, [["vectorAdd", evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm90.txt"), true))]], ["nvidia-smi", "vectorAdd"]);
    assert.equal(allOk.passed, true);
    assert.deepEqual(allOk.reasons, []);

    const smiFailed = withWorkloads({ ...base, passed: false, reasons: ["driver differs"] }, true, null,
        [["vectorAdd", evaluateVectorAdd(evidence(fixture("vectoradd-h200-sm90.txt"), true))]], ["nvidia-smi", "vectorAdd"]);
    assert.equal(smiFailed.passed, false);
    assert.deepEqual(smiFailed.reasons, ["driver differs"]);

    const noSmi = withWorkloads({ ...base, passed: false, reasons: ["not run"] }, false, null, [["nbody", nb]], ["nbody"]);
    assert.deepEqual(Object.keys(noSmi.workloads), ["nbody"]);
    assert.equal(noSmi.passed, true);
    assert.deepEqual(noSmi.reasons, []);
});

test("workloadVerdictFromSummary reads the wait step's summary; durations from the container's times", async () => {
    const { workloadVerdictFromSummary, secondsBetween } = await import("../components/workloadRun");
    const v = workloadVerdictFromSummary("vectorAdd", VA_IMAGE, {
        stage: "verification", succeeded: true, log: fixture("vectoradd-h200-sm90.txt"),
        startedAt: "2026-11-30T01:00:00Z", finishedAt: "2026-11-30T01:00:02Z",
    });
    assert.equal(v.passed, true);
    assert.equal(v.durationSeconds, 2);
    const f = workloadVerdictFromSummary("vectorAdd", VA_IMAGE, { succeeded: false, log: fixture("vectoradd-h200-no-visible-device.txt"), failure: "Failed: BackoffLimitExceeded (exit 1)" });
    assert.equal(f.passed, false);
    assert.equal(f.durationSeconds, null);
    assert.ok(f.reasons.includes("the vectorAdd Job did not complete successfully (Failed: BackoffLimitExceeded (exit 1))"));
    assert.deepEqual(workloadVerdictFromSummary("nbody", NB_IMAGE, {}).passed, false);
    assert.equal(secondsBetween("2026-11-30T01:00:02Z", "2026-11-30T01:00:00Z"), null);
    assert.equal(secondsBetween("x", "y"), null);
});

test("the H200 recordings: the verdict passes exactly the runs that exited 0 (exit codes from the run's metadata)", () => {
    const meta = fixture("h200-vectoradd-build-meta.txt");
    const runs = [...meta.matchAll(/^## run .* -> (vectoradd-h200-[a-z0-9-]+\.txt): exit (\d+), [0-9.]+ s$/gm)];
    assert.equal(runs.length, 5);
    for (const [, file, exit] of runs) {
        const v = evaluateVectorAdd(evidence(fixture(file), exit === "0"));
        assert.equal(v.passed, exit === "0", `${file} exited ${exit}: ${v.reasons.join("; ")}`);
        if (exit !== "0") assert.match(v.reasons[0], /^vectorAdd failed: "Failed to /, file);
    }
});
