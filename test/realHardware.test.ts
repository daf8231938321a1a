// Outputs recorded on real NVIDIA H200 machines (device tool): preflight's host facts and the
// verification command's log, fed through the same functions the program uses.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parseSummary } from "../components/hostCommand";
import { toPreflight } from "../components/hostPrep";
import { evaluateVerification } from "../components/verificationResult";

const FIX = path.join(__dirname, "fixtures");
const read = (rel: string) => fs.readFileSync(path.join(FIX, rel), "utf8");

describe("real H200 host (machine b)", () => {
    const preflight = toPreflight(parseSummary(read("preflight/h200b-no-docker.stdout.txt"), "preflight.sh"));
    const podLog = read("nvidia-smi/h200b-verification-command.txt");

    it("preflight read the real driver and GPU, and blocked on the missing tools", () => {
        assert.equal(preflight.driverVersion, "580.159.04");
        assert.equal(preflight.cudaVersion, "13.0");
        assert.deepEqual(preflight.gpus, [{ index: 0, name: "NVIDIA H200", uuid: "GPU-dcfb25f2-2f79-af2a-9740-347188661ff7" }]);
        assert.equal(preflight.bpfJitHarden, 0);
        const stderr = read("preflight/h200b-no-docker.stderr.txt");
        assert.match(stderr, /3 blocker\(s\) found; nothing was changed on this host/);
        for (const what of ["Docker CLI not found", "minikube not found", "kubectl not found"]) assert.ok(stderr.includes(what), what);
    });

    it("its own verification log passes against its own preflight", () => {
        const r = evaluateVerification({
            jobSucceeded: true, log: podLog, node: "gpu-minikube", image: "nvidia/cuda:12.5.0-base-ubuntu22.04", minGpus: 1,
            hostDriverVersion: preflight.driverVersion, hostGpuUuids: preflight.gpus.map((g) => g.uuid),
        });
        assert.deepEqual(r.reasons, []);
        assert.equal(r.passed, true);
        assert.equal(r.gpus[0].memoryTotalMiB, 143771);
    });

    it("machine a's log does not pass against machine b's host: same model and driver, other GPU", () => {
        const r = evaluateVerification({
            jobSucceeded: true, log: read("nvidia-smi/smi-combined.txt"), node: "gpu-minikube", image: "x", minGpus: 1,
            hostDriverVersion: preflight.driverVersion, hostGpuUuids: preflight.gpus.map((g) => g.uuid),
        });
        assert.equal(r.passed, false);
        assert.deepEqual(r.reasons, ["GPU 0 in the pod (GPU-6121f79f-64c1-4fce-d205-887843b4899e) is not one of the host's GPUs"]);
    });
});
