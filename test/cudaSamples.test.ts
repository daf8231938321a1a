// Expected values below were written by reading each fixture (see test/fixtures/cuda-samples/SOURCES.md), not by
// running the parser, so that a parser change that misreads real output fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { CUDA_SAMPLE_MAX_INPUT_CHARS, NbodyReport, parseNbody, parseVectorAdd, VectorAddReport } from "../components/cudaSamples";

const FIXTURES = join(__dirname, "fixtures", "cuda-samples");

function fixture(name: string): string {
    return readFileSync(join(FIXTURES, name), "utf8");
}

function va(elements: number | null, testPassed: boolean, errors: string[] = [], errorCodes: string[] = []): VectorAddReport {
    return { elements, testPassed, errors, errorCodes };
}

const NO_KERNEL = "no kernel image is available for execution on the device";
const DRIVER_OLD = "CUDA driver version is insufficient for CUDA runtime version";

// ---------------------------------------------------------------------------------------------------------------
// vectorAdd: one test per fixture

test("vectorAdd on H200, built for sm_90: success", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-h200-sm90.txt")), va(50000, true));
});

test("vectorAdd on H200, built with no target (PTX JIT): success", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-h200-notarget.txt")), va(50000, true));
});

test("vectorAdd on H200 with only sm_75 SASS: no kernel image, error line first (stderr unbuffered)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-h200-sm75-sass-only.txt")), va(50000, false,
        [`Failed to launch vectorAdd kernel (error code ${NO_KERNEL})!`], [NO_KERNEL]));
});

test("vectorAdd on H200 with only compute_100 PTX: no kernel image", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-h200-compute100-ptx-only.txt")), va(50000, false,
        [`Failed to launch vectorAdd kernel (error code ${NO_KERNEL})!`], [NO_KERNEL]));
});

test("vectorAdd on H200 with CUDA_VISIBLE_DEVICES empty: no CUDA-capable device", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-h200-no-visible-device.txt")), va(50000, false,
        ["Failed to allocate device vector A (error code no CUDA-capable device is detected)!"], ["no CUDA-capable device is detected"]));
});

test("vectorAdd in Kubernetes, driver too old (gpu-operator#343)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-k8s-driver-insufficient-gpu-operator-343.txt")), va(50000, false,
        [`Failed to allocate device vector A (error code ${DRIVER_OLD})!`], [DRIVER_OLD]));
});

test("vectorAdd in Kubernetes, driver too old, error line first (fake-gpu-operator#125)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-k8s-driver-insufficient-fake-gpu-operator-125.txt")), va(50000, false,
        [`Failed to allocate device vector A (error code ${DRIVER_OLD})!`], [DRIVER_OLD]));
});

test("vectorAdd from the default image's CUDA 12.5 build on a Quadro P400 (Pascal) in Kubernetes: success", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-cuda12.5.0-quadro-p400-k8s.txt")), va(50000, true));
});

test("vectorAdd on a GTX 750 Ti: no kernel image (partial, cuda-samples#170)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-no-kernel-image-gtx750ti-cuda-samples-170-partial.txt")), va(null, false,
        [`Failed to launch vectorAdd kernel (error code ${NO_KERNEL})!`], [NO_KERNEL]));
});

test("vectorAdd unknown error (partial, gpu-operator#854)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-unknown-error-gpu-operator-854-partial.txt")), va(null, false,
        ["Failed to allocate device vector A (error code unknown error)!"], ["unknown error"]));
});

test("vectorAdd success inside a multi-sample log on A100 (partial, bottlerocket#3873)", () => {
    assert.deepEqual(parseVectorAdd(fixture("vectoradd-a100-bottlerocket-3873-partial.txt")), va(null, true));
});

// ---------------------------------------------------------------------------------------------------------------
// nbody: one test per fixture

function nb(fields: Partial<NbodyReport>): NbodyReport {
    return {
        device: null, computeCapability: null, precision: null, bodies: null, iterations: null, totalTimeMs: null,
        billionInteractionsPerSecond: null, gflops: null, flopsPerInteraction: null, errors: [], warnings: [],
        ...fields,
    };
}

test("nbody FP64 on A100-SXM4-40GB in a Kubernetes pod, with the usage text (EIDF docs)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-a100-sxm4-40gb-fp64-k8s-eidf.txt")), nb({
        device: "NVIDIA A100-SXM4-40GB", computeCapability: "8.0", precision: "double", bodies: 512000, iterations: 10,
        totalTimeMs: 10570.778, billionInteractionsPerSecond: 247.989, gflops: 7439.679, flopsPerInteraction: 30,
    }));
});

test("nbody on a time-sliced Tesla T4, pod 1 of 2 (Azure Stack Edge docs)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-t4-timesliced-pod1-azure-stack-edge-partial.txt")), nb({
        device: "Tesla T4", computeCapability: "7.5", precision: "single", bodies: 40960, iterations: 10000,
        totalTimeMs: 170398.766, billionInteractionsPerSecond: 98.459, gflops: 1969.171, flopsPerInteraction: 20,
    }));
});

test("nbody on a time-sliced Tesla T4, pod 2 of 2", () => {
    assert.deepEqual(parseNbody(fixture("nbody-t4-timesliced-pod2-azure-stack-edge-partial.txt")), nb({
        device: "Tesla T4", computeCapability: "7.5", precision: "single", bodies: 40960, iterations: 10000,
        totalTimeMs: 170368.859, billionInteractionsPerSecond: 98.476, gflops: 1969.517, flopsPerInteraction: 20,
    }));
});

test("nbody on a Tesla T4 shared through MPS", () => {
    assert.deepEqual(parseNbody(fixture("nbody-t4-mps-pod2-azure-stack-edge-partial.txt")), nb({
        device: "Tesla T4", computeCapability: "7.5", precision: "single", bodies: 40960, iterations: 10000,
        totalTimeMs: 154986.734, billionInteractionsPerSecond: 108.249, gflops: 2164.987, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX 4080 Laptop GPU with an old sample (SM 8.9 undefined, bodies rounded up)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx4080-laptop-k8s-sm89-unknown-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 4080 Laptop GPU", computeCapability: "8.9", precision: "single", bodies: 1000192,
        iterations: 10, totalTimeMs: 14086.918, billionInteractionsPerSecond: 710.151, gflops: 14203.022, flopsPerInteraction: 20,
        warnings: [
            "MapSMtoCores for SM 8.9 is undefined.  Default to use 128 Cores/SM",
            "MapSMtoArchName for SM 8.9 is undefined.  Default to use Ampere",
            "Warning: \"number of bodies\" specified 1000000 is not a multiple of 256.",
        ],
    }));
});

test("nbody on an A100 80GB PCIe (docker, 4 lines)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-a100-80gb-pcie-docker-partial.txt")), nb({
        device: "NVIDIA A100 80GB PCIe", computeCapability: "8.0", precision: "single", bodies: 110592, iterations: 10,
        totalTimeMs: 178.296, billionInteractionsPerSecond: 685.972, gflops: 13719.437, flopsPerInteraction: 20,
    }));
});

test("nbody on an A100-SXM4-80GB, 2M bodies, trailing spaces after the device name", () => {
    assert.deepEqual(parseNbody(fixture("nbody-a100-sxm4-80gb-2m-partial.txt")), nb({
        device: "NVIDIA A100-SXM4-80GB", computeCapability: "8.0", precision: "single", bodies: 2000128, iterations: 10,
        totalTimeMs: 57412.602, billionInteractionsPerSecond: 696.8, gflops: 13936.007, flopsPerInteraction: 20,
        warnings: ["Warning: \"number of bodies\" specified 2000000 is not a multiple of 256."],
    }));
});

test("nbody on a TITAN X (Pascal), device name with parentheses", () => {
    assert.deepEqual(parseNbody(fixture("nbody-titanx-pascal-docker-partial.txt")), nb({
        device: "TITAN X (Pascal)", computeCapability: "6.1", precision: "single", bodies: 28672, iterations: 10,
        totalTimeMs: 23.859, billionInteractionsPerSecond: 344.556, gflops: 6891.125, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX 2070 SUPER, every line Markdown-quoted", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx2070super-wsl2-docker-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 2070 SUPER", computeCapability: "7.5", precision: "single", bodies: 40960, iterations: 10,
        totalTimeMs: 56.638, billionInteractionsPerSecond: 296.218, gflops: 5924.356, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX 2060 (WSL2)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx2060-wsl2-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 2060", computeCapability: "7.5", precision: "single", bodies: 30720, iterations: 10,
        totalTimeMs: 69.751, billionInteractionsPerSecond: 135.299, gflops: 2705.976, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX A2000 Laptop GPU", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx-a2000-laptop-partial.txt")), nb({
        device: "NVIDIA RTX A2000 Laptop GPU", computeCapability: "8.6", precision: "single", bodies: 20480, iterations: 10,
        totalTimeMs: 21.712, billionInteractionsPerSecond: 193.18, gflops: 3863.604, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX 2080 with Max-Q Design", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx2080-maxq-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 2080 with Max-Q Design", computeCapability: "7.5", precision: "single", bodies: 47104,
        iterations: 10, totalTimeMs: 138.109, billionInteractionsPerSecond: 160.654, gflops: 3213.086, flopsPerInteraction: 20,
    }));
});

test("nbody on an RTX 2060 with Max-Q Design, named by an old driver (no NVIDIA prefix), with the usage text", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx2060-maxq-old-driver-name-docker.txt")), nb({
        device: "GeForce RTX 2060 with Max-Q Design", computeCapability: "7.5", precision: "single", bodies: 30720,
        iterations: 10, totalTimeMs: 69.28, billionInteractionsPerSecond: 136.219, gflops: 2724.379, flopsPerInteraction: 20,
        warnings: ["MapSMtoCores for SM 7.5 is undefined.  Default to use 64 Cores/SM"],
    }));
});

test("nbody on an RTX 4090 with a sample too old for SM 8.9", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx4090-sm89-unknown-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 4090", computeCapability: "8.9", precision: "single", bodies: 131072, iterations: 10,
        totalTimeMs: 77.294, billionInteractionsPerSecond: 2222.671, gflops: 44453.425, flopsPerInteraction: 20,
        warnings: [
            "MapSMtoCores for SM 8.9 is undefined.  Default to use 128 Cores/SM",
            "MapSMtoArchName for SM 8.9 is undefined.  Default to use Ampere",
        ],
    }));
});

test("nbody on an RTX 3080, usage text and NOTE line", () => {
    assert.deepEqual(parseNbody(fixture("nbody-rtx3080-docker-partial.txt")), nb({
        device: "NVIDIA GeForce RTX 3080", computeCapability: "8.6", precision: "single", bodies: 69632, iterations: 10,
        totalTimeMs: 56.99, billionInteractionsPerSecond: 850.788, gflops: 17015.762, flopsPerInteraction: 20,
    }));
});

test("nbody CUDA error line (GL interop, cuda-samples#28)", () => {
    assert.deepEqual(parseNbody(fixture("nbody-gl-interop-error-cuda-samples-28-partial.txt")), nb({
        errors: ["CUDA error at bodysystemcuda_impl.h:183 code=304(cudaErrorOperatingSystem) \"cudaGraphicsGLRegisterBuffer(&m_pGRes[i], m_pbo[i], cudaGraphicsMapFlagsNone)\""],
    }));
});

// ---------------------------------------------------------------------------------------------------------------
// Garbage, truncation, limits: never throw

test("every fixture parses with both parsers without throwing", () => {
    for (const name of readdirSync(FIXTURES)) {
        if (!name.endsWith(".txt")) continue;
        const text = fixture(name);
        assert.doesNotThrow(() => parseVectorAdd(text), name);
        assert.doesNotThrow(() => parseNbody(text), name);
    }
});

test("garbage and non-string input give empty reports", () => {
    const garbage: unknown[] = [undefined, null, 42, {}, [], "", "\u0000\u0001\u00ff", "x".repeat(5000),
        "= NaN billion interactions per second", "= 1e999 single-precision GFLOP/s at 20 flops per interaction",
        "99999999999999999999 bodies, total time for 10 iterations: 1.0 ms", "[Vector addition of -5 elements]"];
    for (const g of garbage) {
        assert.deepEqual(parseVectorAdd(g), va(null, false), String(g).slice(0, 40));
        assert.deepEqual(parseNbody(g), nb({}), String(g).slice(0, 40));
    }
});

test("a vectorAdd log cut before Test PASSED is not a pass", () => {
    const full = fixture("vectoradd-h200-sm90.txt");
    const cut = full.slice(0, full.indexOf("Test PASSED") + "Test PASS".length);
    assert.deepEqual(parseVectorAdd(cut), va(50000, false));
});

test("an nbody log cut inside its result lines keeps what was printed and no GFLOP/s", () => {
    const full = fixture("nbody-a100-80gb-pcie-docker-partial.txt");
    const cut = full.slice(0, full.indexOf("single-precision") - 3);
    assert.deepEqual(parseNbody(cut), nb({
        device: "NVIDIA A100 80GB PCIe", computeCapability: "8.0", bodies: 110592, iterations: 10, totalTimeMs: 178.296,
        billionInteractionsPerSecond: 685.972,
    }));
});

test("every prefix of every fixture parses without throwing", () => {
    for (const name of ["vectoradd-h200-sm75-sass-only.txt", "nbody-a100-sxm4-40gb-fp64-k8s-eidf.txt"]) {
        const text = fixture(name);
        for (let i = 0; i <= text.length; i += 7) {
            assert.doesNotThrow(() => parseVectorAdd(text.slice(0, i)));
            assert.doesNotThrow(() => parseNbody(text.slice(0, i)));
        }
    }
});

test("CRLF logs parse like LF logs", () => {
    const text = fixture("nbody-t4-timesliced-pod1-azure-stack-edge-partial.txt");
    assert.deepEqual(parseNbody(text.replace(/\n/g, "\r\n")), parseNbody(text));
    const va1 = fixture("vectoradd-h200-sm90.txt");
    assert.deepEqual(parseVectorAdd(va1.replace(/\n/g, "\r\n")), parseVectorAdd(va1));
});

test("an oversized log is parsed from its end and quickly", () => {
    const tail = fixture("vectoradd-h200-sm90.txt");
    const big = "noise line\n".repeat(CUDA_SAMPLE_MAX_INPUT_CHARS / 5) + tail;
    const started = Date.now();
    assert.deepEqual(parseVectorAdd(big), va(50000, true));
    assert.ok(Date.now() - started < 5000);
});
