import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { Job } from "kubernetes-models/batch/v1";
import {
    buildVerificationJob, VERIFICATION_NAMESPACE_PREFIX, verificationJobName, VerificationJobSpec, verificationNamespace,
} from "../components/verificationJob";
import { evaluateVerification, VerificationEvidence } from "../components/verificationResult";
import { rerunToken } from "../components/gpuVerification";

const FIXTURES = path.join(__dirname, "fixtures", "nvidia-smi");
const H200_LOG = fs.readFileSync(path.join(FIXTURES, "smi-combined.txt"), "utf8");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const SPEC: VerificationJobSpec = { image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 600, runId: "" };

type JobInit = ConstructorParameters<typeof Job>[0];

describe("verification Job manifest", () => {
    it("validates against the Kubernetes OpenAPI schema", () => {
        assert.doesNotThrow(() => new Job(buildVerificationJob(SPEC) as unknown as JobInit).validate());
    });

    it("the schema check can fail (a wrong type is caught)", () => {
        const broken = buildVerificationJob(SPEC) as unknown as { spec: { backoffLimit: unknown } };
        broken.spec.backoffLimit = "zero";
        assert.throws(() => new Job(broken as unknown as JobInit).validate());
    });

    it("runs nvidia-smi once on the configured GPUs, never retried, in our namespace", () => {
        const job = buildVerificationJob({ ...SPEC, gpus: 2, timeoutSeconds: 120 });
        assert.equal(job.metadata.namespace, VERIFICATION_NAMESPACE_PREFIX);
        assert.equal(buildVerificationJob(SPEC, "elsewhere").metadata.namespace, "elsewhere");
        assert.equal(job.metadata.annotations["pulumi.com/skipAwait"], "true");
        assert.equal(job.spec.backoffLimit, 0);
        assert.equal(job.spec.activeDeadlineSeconds, 120);
        const pod = job.spec.template.spec;
        assert.equal(pod.restartPolicy, "Never");
        assert.equal(pod.containers[0].image, SPEC.image);
        assert.deepEqual(pod.containers[0].resources.limits, { "nvidia.com/gpu": "2" });
        assert.equal(pod.containers[0].command[2].startsWith("nvidia-smi && { q=$(nvidia-smi --query-gpu=index,name,uuid,driver_version,"), true);
    });

    it("lives in a namespace per cluster incarnation, stable while the cluster runs", () => {
        assert.equal(verificationNamespace(""), "gpu-minikube-verification");
        const a = verificationNamespace("absent-1764412345-1a2b3c4d");
        assert.match(a, /^gpu-minikube-verification-[0-9a-f]{8}$/);
        assert.equal(verificationNamespace("absent-1764412345-1a2b3c4d"), a);
        assert.notEqual(verificationNamespace("stopped-1764419999-99aa00bb"), a);
    });

    it("gets a new name whenever the check changes, and keeps it otherwise", () => {
        const base = verificationJobName(SPEC);
        assert.match(base, /^gpu-verify-[0-9a-f]{10}$/);
        assert.equal(verificationJobName({ ...SPEC }), base);
        // A Job that hit activeDeadlineSeconds stays Failed: a longer deadline must be a new Job.
        const variants = [{ image: "nvidia/cuda:12.6.0-base-ubuntu22.04" }, { gpus: 2 }, { runId: "again" }, { timeoutSeconds: 60 },
            { rerunToken: rerunToken(["590.10.02", ["GPU-a"], 0, ""]) }];
        const names = new Set(variants.map((v) => verificationJobName({ ...SPEC, ...v })));
        assert.equal(names.size, variants.length);
        assert.ok(!names.has(base));
    });

    it("gpus 1 → 2 (fails) → 1: the third Job is a fresh one; 1 → 2 → 1 with no failure comes back to the first name", () => {
        const host = ["580.159.04", ["GPU-6121f79f-64c1-4fce-d205-887843b4899e"]];
        const name = (gpus: number, failedAttempts: number) =>
            verificationJobName({ ...SPEC, gpus, rerunToken: rerunToken([...host, failedAttempts, ""]) });
        const first = name(1, 0);
        const failing = name(2, 0);
        const after = name(1, 1); // the wait deleted the failed Job and noted the attempt
        assert.equal(new Set([first, failing, after]).size, 3, "the retry never meets a Job left from before");
        // Without a failure the name returns: Pulumi must delete the old Job of that name before it
        // creates the new one (the component sets deleteBeforeReplace; see test/program.test.ts).
        assert.equal(name(1, 0), first);
    });
});

describe("evaluateVerification", () => {
    const evidence = (over: Partial<VerificationEvidence> = {}): VerificationEvidence => ({
        jobSucceeded: true, log: H200_LOG, node: "gpu-minikube", image: SPEC.image, minGpus: 1,
        hostDriverVersion: "580.159.04", hostGpuUuids: [H200_UUID], ...over,
    });

    it("passes on the recorded H200 pod log when it matches the host", () => {
        const r = evaluateVerification(evidence());
        assert.deepEqual(r.reasons, []);
        assert.equal(r.passed, true);
        assert.equal(r.driverVersion, "580.159.04");
        assert.equal(r.cudaVersion, "13.0");
        assert.deepEqual(r.gpus, [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID, memoryTotalMiB: 143771, busId: "00000000:00:06.0" }]);
    });

    it("fails with a reason on a driver mismatch", () => {
        const r = evaluateVerification(evidence({ hostDriverVersion: "575.57.08" }));
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, ["driver version in the pod (580.159.04) differs from the host's (575.57.08)"]);
    });

    it("fails with a reason on a GPU UUID the host does not have", () => {
        const r = evaluateVerification(evidence({ hostGpuUuids: ["GPU-00000000-0000-0000-0000-000000000000"] }));
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, [`GPU 0 in the pod (${H200_UUID}) is not one of the host's GPUs`]);
    });

    it("fails when the pod saw fewer GPUs than required", () => {
        const r = evaluateVerification(evidence({ minGpus: 2 }));
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, ["the pod saw 1 GPU(s); verification.gpus requires at least 2"]);
    });

    it("fails when the Job did not succeed or the log shows no GPU", () => {
        const r = evaluateVerification(evidence({ jobSucceeded: false, log: "sh: nvidia-smi: not found\n" }));
        assert.equal(r.passed, false);
        assert.ok(r.reasons.includes("the verification Job did not complete successfully"));
        assert.ok(r.reasons.includes("the pod saw 0 GPU(s); verification.gpus requires at least 1"));
        assert.ok(r.reasons.some((x) => x.startsWith("could not read the driver version from the pod's nvidia-smi output")));
    });

    it("a Job that did not complete carries the wait step's reason, and when and where it ran", () => {
        const failure = "the verification pod p is stuck: ImagePullBackOff for 15s (found: …). Fix: check the image name";
        const r = evaluateVerification(evidence({ jobSucceeded: false, log: "", failure, verifiedAt: "2026-11-30T01:05:00Z",
            clusterIncarnation: "3f2b9c1d", job: "gpu-minikube-verification-3f2b9c1d/gpu-verify-0123456789" }));
        assert.equal(r.passed, false);
        assert.equal(r.reasons[0], `the verification Job did not complete successfully: ${failure}`);
        assert.equal(r.verifiedAt, "2026-11-30T01:05:00Z");
        assert.equal(r.clusterIncarnation, "3f2b9c1d");
        assert.equal(r.job, "gpu-minikube-verification-3f2b9c1d/gpu-verify-0123456789");
    });

    it("fails when a GPU in the pod shows no UUID (the plain table alone cannot be matched)", () => {
        const table = fs.readFileSync(path.join(FIXTURES, "smi-table.txt"), "utf8");
        const r = evaluateVerification(evidence({ log: table }));
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, ["GPU 0 in the pod showed no UUID, so it could not be matched to a host GPU"]);
    });

    it("fails when the host driver is unknown", () => {
        const r = evaluateVerification(evidence({ hostDriverVersion: null }));
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, ["the host driver version is unknown, so the pod's driver could not be compared"]);
    });
});
