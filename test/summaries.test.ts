// The pure functions that turn script summaries into stack outputs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { toGpuAllocatable } from "../components/devicePlugin";
import { summarizeHostPrep, toDockerGpuCheck, toPreflight } from "../components/hostPrep";

const H200_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const PRE = toPreflight({
    driverVersion: "580.159.04", cudaVersion: "13.0", gpus: [{ index: 0, name: "NVIDIA H200", uuid: "GPU-1" }],
    dockerVersion: "28.2.2", dockerDesktop: false, wsl2: true, minikubeVersion: "v1.37.0",
    toolkitInstalled: true, nvidiaRuntime: true, bpfJitHarden: 1, warnings: ["bpf"],
});

describe("toPreflight", () => {
    it("types a full summary", () => {
        assert.equal(PRE.wsl2, true);
        assert.equal(PRE.bpfJitHarden, 1);
        assert.deepEqual(PRE.gpus, [{ index: 0, name: "NVIDIA H200", uuid: "GPU-1" }]);
    });
    it("tolerates missing fields", () => {
        const p = toPreflight({});
        assert.equal(p.driverVersion, "");
        assert.equal(p.cudaVersion, null);
        assert.deepEqual(p.gpus, []);
        assert.equal(p.bpfJitHarden, null);
        assert.deepEqual(p.warnings, []);
    });
});

describe("summarizeHostPrep", () => {
    it("lists what the run changed", () => {
        const s = summarizeHostPrep(PRE, { changed: true, version: "1.20.0" }, { changed: true, restarted: true });
        assert.deepEqual(s.changed, ["toolkit-installed", "docker-runtime-configured", "docker-restarted"]);
        assert.equal(s.toolkitVersion, "1.20.0");
        assert.equal(s.runtimeConfigured, true);
    });
    it("a ready host changes nothing", () => {
        const s = summarizeHostPrep(PRE, { changed: false, version: "1.20.0" }, { changed: false, restarted: false });
        assert.deepEqual(s.changed, []);
    });
    it("when the runtime step is skipped, preflight's view of the runtime counts", () => {
        const without = { ...PRE, nvidiaRuntime: false };
        assert.equal(summarizeHostPrep(without, {}, { skipped: true }).runtimeConfigured, false);
        assert.equal(summarizeHostPrep(PRE, {}, { skipped: true }).runtimeConfigured, true);
        assert.equal(summarizeHostPrep(without, { version: null }, { skipped: true }).toolkitVersion, null);
    });
});

describe("toDockerGpuCheck", () => {
    it("passes when the container exited 0 and showed a GPU", () => {
        const c = toDockerGpuCheck({ exitCode: 0, log: H200_LOG }, "img", "img@sha256:1");
        assert.equal(c.passed, true);
        assert.equal(c.gpus.length, 1);
        assert.equal(c.imageDigest, "img@sha256:1");
    });
    it("fails on a non-zero exit, an empty log or a missing exit code", () => {
        assert.equal(toDockerGpuCheck({ exitCode: 1, log: H200_LOG }, "img", null).passed, false);
        assert.equal(toDockerGpuCheck({ exitCode: 0, log: "" }, "img", null).passed, false);
        const c = toDockerGpuCheck({ log: H200_LOG }, "img", "");
        assert.equal(c.passed, false);
        assert.equal(c.exitCode, -1);
        assert.equal(c.imageDigest, null);
    });
});

describe("toGpuAllocatable", () => {
    it("keeps node → non-negative integer counts", () => {
        assert.deepEqual(toGpuAllocatable({ a: 1, b: "2", c: -1, d: 1.5, e: "x", f: 0 }), { a: 1, b: 2, f: 0 });
    });
    it("anything but an object is empty", () => {
        for (const v of [null, undefined, 3, "x", [1]]) assert.deepEqual(toGpuAllocatable(v), {});
    });
});
