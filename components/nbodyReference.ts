/** A published FP32 `nbody -benchmark` result for one GPU model. */
export interface NbodyReference {
    /**
     * The GPU name exactly as the published run printed it (`> Compute X.Y CUDA device: [NAME]`, nvidia-smi's name on
     * that driver); matched through {@link gpuModelKey}, so the same board on an older or newer driver matches.
     */
    gpu: string;
    /** Single-precision GFLOP/s the published run printed. */
    gflops: number;
    /** Bodies of that run (small runs under-use big GPUs, so the figure is a floor, not a peak). */
    bodies: number;
    /** Where it was published. */
    source: string;
    /** The published output, kept in test/fixtures/cuda-samples (a test re-parses it and checks `gflops`). */
    fixture: string;
}

/**
 * Published FP32 nbody figures per GPU model, each from a real output kept as a fixture (see
 * test/fixtures/cuda-samples/SOURCES.md). Only runs where the GPU was not shared are listed: the Tesla T4 runs we
 * have were two pods time-sharing one GPU, so they are fixtures but not references. GPUs not listed (Hopper among
 * them: no published FP32 nbody output of an H100, GH200 or H200 was found; CSCS's published GH200 checks are FP64
 * across 4 GPUs) get no comparison and no warning.
 */
export const NBODY_REFERENCES: readonly NbodyReference[] = [
    {
        gpu: "NVIDIA A100 80GB PCIe", gflops: 13719.437, bodies: 110592,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody on an Azure VM (public lab notes)",
        fixture: "nbody-a100-80gb-pcie-docker-partial.txt",
    },
    {
        gpu: "NVIDIA A100-SXM4-80GB", gflops: 13936.007, bodies: 2000128,
        source: "NGC batch job `nbody -benchmark -numbodies=2000000` on dgxa100.80g.1.norm (public tutorial)",
        fixture: "nbody-a100-sxm4-80gb-2m-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 4090", gflops: 44453.425, bodies: 131072,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody nbody -gpu -benchmark (public notes)",
        fixture: "nbody-rtx4090-sm89-unknown-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 3080", gflops: 17015.762, bodies: 69632,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody nbody -gpu -benchmark (public setup notes)",
        fixture: "nbody-rtx3080-docker-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 4080 Laptop GPU", gflops: 14203.022, bodies: 1000192,
        source: "kubectl logs of an nbody pod on WSL2 (public lab notes)",
        fixture: "nbody-rtx4080-laptop-k8s-sm89-unknown-partial.txt",
    },
    {
        gpu: "TITAN X (Pascal)", gflops: 6891.125, bodies: 28672,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody nbody -gpu -benchmark (public setup notes)",
        fixture: "nbody-titanx-pascal-docker-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 2070 SUPER", gflops: 5924.356, bodies: 40960,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody on WSL2 (public setup notes)",
        fixture: "nbody-rtx2070super-wsl2-docker-partial.txt",
    },
    {
        gpu: "NVIDIA RTX A2000 Laptop GPU", gflops: 3863.604, bodies: 20480,
        source: "nbody -benchmark in Docker (public setup notes)",
        fixture: "nbody-rtx-a2000-laptop-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 2080 with Max-Q Design", gflops: 3213.086, bodies: 47104,
        source: "nbody -benchmark (public setup notes)",
        fixture: "nbody-rtx2080-maxq-partial.txt",
    },
    {
        gpu: "NVIDIA GeForce RTX 2060", gflops: 2705.976, bodies: 30720,
        source: "nbody -benchmark on WSL2 (public setup notes)",
        fixture: "nbody-rtx2060-wsl2-partial.txt",
    },
    {
        // Named by a driver from before the "NVIDIA " prefix; today's drivers call it "NVIDIA GeForce RTX 2060 with Max-Q Design".
        gpu: "GeForce RTX 2060 with Max-Q Design", gflops: 2724.379, bodies: 30720,
        source: "docker run nvcr.io/nvidia/k8s/cuda-sample:nbody nbody -gpu -benchmark on WSL2 (Docker's docs, Japanese edition)",
        fixture: "nbody-rtx2060-maxq-old-driver-name-docker.txt",
    },
];

/** Below this share of the published figure for the same GPU model, the nbody verdict carries a warning. */
export const NBODY_WARNING_FRACTION = 0.1;

/**
 * A GPU name as the driver reports it, in the form references are compared in: trimmed, runs of spaces as one, no
 * leading `NVIDIA `, lowercase. Drivers before ~R465 named GeForce and TITAN boards without the `NVIDIA ` prefix
 * (`GeForce RTX 2060 with Max-Q Design`, `TITAN X (Pascal)` in the published outputs here), today's drivers with it
 * (`NVIDIA GeForce RTX 2060`; PyTorch's `get_device_name` gives `NVIDIA TITAN X (Pascal)` on a current driver),
 * and some published copies keep trailing spaces (`NVIDIA A100-SXM4-80GB   `).
 */
export function gpuModelKey(name: string): string {
    return name.trim().replace(/\s+/g, " ").replace(/^nvidia /i, "").toLowerCase();
}

/** The published figure for a GPU model (its name as nbody and nvidia-smi print it, on any driver), or null. */
export function nbodyReferenceFor(gpu: string | null): NbodyReference | null {
    if (gpu === null) return null;
    const key = gpuModelKey(gpu);
    if (key === "") return null;
    return NBODY_REFERENCES.find((r) => gpuModelKey(r.gpu) === key) ?? null;
}
