import type { GpuMinikubeConfig } from "./config";

const NS = "gpu-minikube";

/**
 * Cross-key rules of GPU sharing that the per-key schema cannot see (one line per problem, naming
 * both keys and the fix).
 *
 * - `verification.gpus` above 1 with `devicePlugin.sharing.strategy: timeSlicing` (either cluster
 *   mode): on minikube the sharing check runs one pod per share, each asking for one share (one GPU),
 *   so the value would be silently ignored. It could not be honoured either: with `failRequestsGreaterThanOne` (the default) NVIDIA's
 *   plugin refuses a container asking for more than one share, and without it two shares may be
 *   replicas of the same GPU (NVIDIA's device-plugin issue gitlab.com/nvidia/kubernetes/device-plugin#8),
 *   so the pod would not see two GPUs.
 */
export function sharingProblems(cfg: GpuMinikubeConfig): string[] {
    const problems: string[] = [];
    if (cfg.devicePlugin.sharing.strategy === "timeSlicing" && cfg.verification.gpus !== 1) {
        const refusal = cfg.devicePlugin.sharing.failRequestsGreaterThanOne
            ? "NVIDIA's plugin refuses a container asking for more than one share (devicePlugin.sharing.failRequestsGreaterThanOne is true)"
            : "two shares may be replicas of the same physical GPU, so the pod would not see that many GPUs";
        problems.push(`${NS}:verification.gpus: found ${cfg.verification.gpus}, but devicePlugin.sharing.strategy is "timeSlicing": ` +
            `with time-slicing a verification pod asks for one share (one GPU; the minikube sharing check runs devicePlugin.sharing.replicas such pods at once), and ${refusal}. ` +
            "Fix: `pulumi config rm --path verification.gpus` (1, the default), or turn sharing off with " +
            "`pulumi config set --path devicePlugin.sharing.strategy none` to verify several whole GPUs in one pod");
    }
    return problems;
}
