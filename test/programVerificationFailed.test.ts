// The output contract when the verification fails, under Pulumi's mocks: the wait step succeeds
// with `succeeded: false`, gpuVerification says `passed: false` with the reason, and the gate step
// gets what it needs to fail `pulumi up` with the same reasons. Also: a failed attempt and
// `verification.alwaysRerun` give the Job a new identity (so the next `up` starts a fresh Job).
import assert from "node:assert/strict";
import { before, it } from "node:test";
import { rerunToken } from "../components/gpuVerification";
import { verificationJobName } from "../components/verificationJob";
import { output, Program, programMocks, unsecret } from "./harness/programMocks";

const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const FAILURE = "the verification pod gpu-verify-x-abcde is stuck: Unschedulable for 15s (found: Unschedulable: 0/1 nodes are available: " +
    "1 Insufficient nvidia.com/gpu.). Fix: no node has enough free nvidia.com/gpu (diagnostics above)";

const STDOUT: Record<string, unknown> = {
    "preflight.sh": { driverVersion: "580.159.04", cudaVersion: "13.0", gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }], warnings: [] },
    "install-toolkit.sh": { changed: false, skipped: false, version: "1.20.0" },
    "configure-docker-runtime.sh": { changed: false, restarted: false, skipped: false },
    "docker-gpu-check.sh": { exitCode: 0, log: "" },
    "minikube-start.sh": { profile: "gpu-minikube", action: "unchanged", kubeconfig: "apiVersion: v1\nkind: Config\n" },
    "device-plugin.sh": { gpuAllocatable: { "gpu-minikube": 1 }, enabledByUs: false },
    "minikube-image-load.sh": { loaded: false },
    "verification-wait.sh": {
        stage: "verification", jobName: "gpu-verify-x", succeeded: false, pod: "gpu-verify-x-abcde", node: null, log: "",
        failure: FAILURE, jobDeleted: true, verifiedAt: "2026-11-30T01:05:00Z",
    },
    "verification-gate.sh": { stage: "verification-gate", passed: false },
};
const PROBES: Record<string, unknown> = {
    "minikube-observe.sh": { state: "Running", token: "tok-2" },
    "host-facts.sh": { driverVersion: "580.159.04", gpuUuids: [H200_UUID], error: null },
    "verification-observe.sh": { failedAttempts: 1 },
    // Host prep asks which Docker daemon to use (scripts/docker-endpoint.sh, from main).
    "docker-endpoint.sh": { stage: "docker-endpoint", dockerHost: "unix:///var/run/docker.sock", reachable: true },
};

const mocks = programMocks({
    config: { verification: { gpus: 2, alwaysRerun: true } },
    scriptStdout: STDOUT,
    probeStdout: PROBES,
    settleOn: "gpu-verification-gate",
});
const { command } = mocks;
const jobs = () => mocks.registered.filter((r) => r.type === "kubernetes:batch/v1:Job").map((r) => r.inputs as { metadata: { name: string } });
let program: Program;

before(async () => {
    program = await mocks.run();
});

it("a failed verification is recorded: passed false, with the wait's reason, and when and where it ran", async () => {
    const v = await output(program.gpuVerification);
    assert.equal(v.passed, false);
    assert.equal(v.reasons[0], `the verification Job did not complete successfully: ${FAILURE}`);
    assert.equal(v.verifiedAt, "2026-11-30T01:05:00Z");
    assert.ok("job" in v, "minikube mode: the single Job");
    assert.match(String(v.job), /^gpu-minikube-verification-[0-9a-f]{8}\/gpu-verify-x$/);
});

it("the gate step gets passed=false and the reasons, so `pulumi up` fails with them", async () => {
    const v = await output(program.gpuVerification);
    const env = command("gpu-verification-gate").inputs.environment as Record<string, string>;
    assert.equal(env.GM_PASSED, "false");
    assert.equal(env.GM_REASONS, v.reasons.join("\n"));
    // The profile: a failing gate notes a failed attempt there, so the next up runs fresh Jobs.
    assert.equal(env.GM_PROFILE, "gpu-minikube");
});

it("a failed attempt and alwaysRerun are part of the Job's identity: the next up starts a fresh Job", () => {
    // The nvidia-smi Job (the vectorAdd workload's Job, gpu-verify-vectoradd-…, shares its rerun token).
    const smiJobs = jobs().filter((j) => /^gpu-verify-[0-9a-f]{10}$/.test(j.metadata.name));
    assert.equal(smiJobs.length, 1);
    const name = smiJobs[0].metadata.name;
    const spec = { image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 2, timeoutSeconds: 600, runId: "" };
    const withoutAttempt = verificationJobName({ ...spec, rerunToken: rerunToken(["580.159.04", [H200_UUID], 0, ""]) });
    const withAttemptOnly = verificationJobName({ ...spec, rerunToken: rerunToken(["580.159.04", [H200_UUID], 1, ""]) });
    assert.notEqual(name, withoutAttempt);
    assert.notEqual(name, withAttemptOnly, "alwaysRerun adds a value new on every run");
    const plugin = unsecret(command("device-plugin-addon").inputs.environment) as Record<string, string>;
    assert.match(plugin.GM_RECHECK_TOKEN, /^[0-9a-f]{16}-\d{4}-\d\d-\d\dT/, "allocatable is re-checked on every up too");
});
