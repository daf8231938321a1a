// The verification workloads: what each one runs, in which image, and how much GPU it asks for.

/** The workloads `verification.workloads` may list, in the order the GPU Operator's validator stages them. */
export const WORKLOAD_IDS = ["nvidia-smi", "vectorAdd", "nbody"] as const;

/** One verification workload. */
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/** The compute workloads, each a CUDA sample in its own image (vectorAdd, nbody). */
export type ComputeWorkload = Exclude<WorkloadId, "nvidia-smi">;

/** `verification.workloads` when unset: the driver check, then a real CUDA kernel. */
export const DEFAULT_WORKLOADS: readonly WorkloadId[] = ["nvidia-smi", "vectorAdd"];

/**
 * Default image per workload (`verification.images.<workload>`; `verification.image` for nvidia-smi).
 * - vectorAdd: NVIDIA's `cuda-sample:vectoradd-cuda12.5.0`, the tag NVIDIA's GPU Operator docs run; CUDA 12.5 like
 *   the nvidia-smi image, so both need the same driver (CUDA 12.x: >= 525.60.13).
 * - nbody: NGC has no nbody tag for CUDA 12.x (`nbody-cuda12.5.0` answers 404; NVIDIA/cuda-samples#384, Aug 2025: the
 *   newest NGC tag is `vectoradd-cuda12.5.0-ubi8`). NVIDIA/k8s-samples' CI publishes nbody only under its versioned
 *   tags and the moving `nbody` tag, whose CUDA level changes with each release, so it cannot be a pinned default.
 *   `nbody-cuda11.7.1` is the newest versioned one, CUDA 11.7 <= 12.5, and its binary is `/cuda-samples/nbody` (ETH
 *   CSCS's ReFrame check and published manifests run exactly that). Built by CUDA 11.7 (no sm_90 code), it runs on
 *   Hopper through the driver's PTX JIT.
 */
export const DEFAULT_WORKLOAD_IMAGES: Readonly<Record<WorkloadId, string>> = {
    "nvidia-smi": "nvidia/cuda:12.5.0-base-ubuntu22.04",
    vectorAdd: "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0",
    nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody-cuda11.7.1",
};

/**
 * Bodies for `nbody -benchmark` (a multiple of nbody's 256-thread block, so it prints no rounding warning).
 * 200 × 1024 keeps even a laptop GPU under ~10 s for the 10 timed iterations (N² × 20 flops × 10 ≈ 8.4 TFLOP)
 * while filling an H200 (nbody's own default there would be 4 × 256 × 132 SMs = 135168).
 */
export const NBODY_NUM_BODIES = 204800;

/**
 * The container command of a compute workload; `undefined` runs the image's own entrypoint.
 * vectorAdd's images run the sample by default (every published `kubectl logs` of them relies on it), so a custom
 * `verification.images.vectorAdd` only has to keep that default.
 */
export function workloadCommand(workload: ComputeWorkload): string[] | undefined {
    switch (workload) {
        case "vectorAdd":
            return undefined;
        case "nbody":
            // FP32 is nbody's default precision (no -fp64).
            return ["/cuda-samples/nbody", "-benchmark", `-numbodies=${NBODY_NUM_BODIES}`];
    }
}

/** Lowercase form of a workload for Kubernetes names and labels (`vectorAdd` → `vectoradd`). */
export function workloadSlug(workload: WorkloadId): string {
    return workload.toLowerCase();
}
