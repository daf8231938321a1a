import type { GpuMinikubeConfig } from "./config";
import { inspectKubeconfig } from "./kubeconfig";

const NS = "gpu-minikube";

/** The outcome of {@link applyClusterMode}: the config with mode-dependent defaults, or problems. */
export interface ModalConfig {
    /** The config with `devicePlugin.mode` defaulted for the cluster mode. */
    config: GpuMinikubeConfig;
    /** One line per cross-key problem, each naming the keys involved and the fix. */
    problems: string[];
}

/**
 * Cross-key rules of `cluster.mode` (the per-key rules live in config.ts's schema).
 *
 * A top-level key counts as *set* only when its raw value differs from its default: the Pulumi
 * CLI hands every stack the defaults `Pulumi.yaml` declares for keys the stack does not set
 * (pulumi/sdk `workspace.ApplyProjectConfig`), so `minikube` and `hostPrep` arrive even in
 * `existing` mode, and must not count as the user's choice there.
 *
 * - `existing`: `cluster.kubeconfig` is required and must resolve to a context with an API server;
 *   `profile`, `minikube.*` and `hostPrep.*` are errors naming the mode (nothing here creates a
 *   minikube or touches this machine); `devicePlugin.mode` defaults to `none` and `addon` is an error;
 *   with `none`, other `devicePlugin.*` keys are errors (no plugin is deployed or awaited); `manifest`
 *   deploys NVIDIA's plugin on the GPU nodes (components/existingDevicePlugin.ts); compute workloads
 *   (`verification.workloads` beyond nvidia-smi, `verification.images`) are errors: each node runs
 *   the nvidia-smi check only.
 * - `verification.image` may be a digest only in `existing` mode (see below).
 * - `minikube`: `cluster.kubeconfig`, `cluster.context`, `verification.nodeSelector` and
 *   `devicePlugin.mode: none` are errors (they would be silently ignored).
 */
export function applyClusterMode(input: Record<string, unknown>, cfg: GpuMinikubeConfig,
    defaults: () => GpuMinikubeConfig): ModalConfig {
    const problems: string[] = [];
    const defaultOf = defaults();
    const isSet = (key: keyof GpuMinikubeConfig): boolean =>
        input[key] !== undefined && !deepEqual(input[key], defaultOf[key]) && !deepEqual(input[key], {});
    const setKeys = (key: "minikube" | "hostPrep"): string[] => {
        if (!isSet(key)) return [];
        const raw = input[key];
        return raw !== null && typeof raw === "object" ? Object.keys(raw).map((k) => `${key}.${k}`) : [key];
    };
    const rawDevicePlugin = isSet("devicePlugin") ? (input.devicePlugin as Record<string, unknown>) : {};
    const explicitPluginMode = typeof rawDevicePlugin.mode === "string" ? rawDevicePlugin.mode : undefined;

    if (cfg.cluster.mode === "existing") {
        const why = `cluster.mode is "existing": the program creates no minikube and never touches this machine`;
        if (isSet("profile")) {
            problems.push(`${NS}:profile: found ${JSON.stringify(cfg.profile)}, but ${why}, so a minikube profile means nothing. ` +
                "Fix: `pulumi config rm profile`");
        }
        for (const key of [...setKeys("minikube"), ...setKeys("hostPrep")]) {
            problems.push(`${NS}:${key}: is set, but ${why}; ${key.split(".")[0]}.* applies only to cluster.mode "minikube". ` +
                `Fix: \`pulumi config rm --path ${key}\` (or set cluster.mode to "minikube")`);
        }
        if (explicitPluginMode === "addon") {
            problems.push(`${NS}:devicePlugin.mode: found "addon", which is minikube's addon and needs cluster.mode "minikube". ` +
                `With cluster.mode "existing" use "none" (the cluster already runs a device plugin, e.g. the GPU Operator) ` +
                `or "manifest" (this program deploys NVIDIA's device plugin on the GPU nodes). ` +
                "Fix: `pulumi config set --path devicePlugin.mode none`");
        }
        if (explicitPluginMode === undefined || explicitPluginMode === "none") {
            for (const key of Object.keys(rawDevicePlugin).filter((k) => k !== "mode")) {
                problems.push(`${NS}:devicePlugin.${key}: is set, but with cluster.mode "existing" and devicePlugin.mode "none" ` +
                    "the program deploys and waits for no device plugin (each node is checked as it advertises itself), so it has no effect. " +
                    `Fix: \`pulumi config rm --path devicePlugin.${key}\``);
            }
        }
        // Each node runs the nvidia-smi check only; the compute workloads (vectorAdd, nbody) run on
        // minikube only, so asking for them here would be silently ignored.
        const rawVerification = isSet("verification") ? (input.verification as Record<string, unknown>) : {};
        const computeWorkloads = cfg.verification.workloads.filter((w) => w !== "nvidia-smi");
        if (rawVerification.workloads !== undefined && computeWorkloads.length > 0) {
            problems.push(`${NS}:verification.workloads: found ${JSON.stringify(cfg.verification.workloads)}, but with cluster.mode "existing" ` +
                `each GPU node runs the nvidia-smi check only (${computeWorkloads.join(", ")} run with cluster.mode "minikube" only). ` +
                "Fix: `pulumi config rm --path verification.workloads` (or set it to [\"nvidia-smi\"])");
        }
        if (rawVerification.images !== undefined && !deepEqual(rawVerification.images, {})) {
            problems.push(`${NS}:verification.images: is set, but with cluster.mode "existing" no compute workload runs, so it has no effect. ` +
                "Fix: `pulumi config rm --path verification.images`");
        }
        const kubeconfig = cfg.cluster.kubeconfig ?? "";
        if (kubeconfig.trim() === "") {
            problems.push(`${NS}:cluster.kubeconfig: is required when cluster.mode is "existing" (found nothing). ` +
                "Fix: `pulumi config set --secret --path cluster.kubeconfig \"$(kubectl config view --raw --minify --flatten)\"`");
        } else {
            const inspected = inspectKubeconfig(kubeconfig, cfg.cluster.context);
            if (!inspected.ok) {
                const fix = inspected.key === "cluster.context"
                    ? "Fix: `pulumi config set --path cluster.context <name>`"
                    : "Fix: `pulumi config set --secret --path cluster.kubeconfig \"$(kubectl config view --raw --minify --flatten)\"`";
                problems.push(`${NS}:${inspected.key}: the kubeconfig ${inspected.problem}. ${fix}`);
            }
        }
        const devicePlugin = { ...cfg.devicePlugin, mode: explicitPluginMode === undefined ? "none" as const : cfg.devicePlugin.mode };
        return { config: { ...cfg, devicePlugin }, problems };
    }

    const onlyExisting = `applies only to cluster.mode "existing" (found cluster.mode "${cfg.cluster.mode}")`;
    // No digest here: the image reaches the node by `minikube image load` (docker save | load), which
    // drops the registry digest (moby/moby#22011, docker/cli#5933), so a `@sha256:` reference would
    // not be found there and the node would pull it. The host's pull is pinned anyway:
    // dockerGpuCheck.imageDigest reports the digest.
    if (cfg.verification.image.includes("@")) {
        problems.push(`${NS}:verification.image: found ${JSON.stringify(cfg.verification.image)}; expected a tag, not a digest: ` +
            "'minikube image load' does not keep an image's registry digest, so the node could not find '<image>@sha256:…' " +
            "and would pull it again; use '<image>:<tag>' (the digest the host pulled is reported in the dockerGpuCheck output " +
            "as imageDigest; digests are accepted with cluster.mode \"existing\", whose nodes pull the image). " +
            "Fix: `pulumi config set --path verification.image <image>:<tag>`");
    }
    if (cfg.cluster.kubeconfig !== undefined) {
        problems.push(`${NS}:cluster.kubeconfig: ${onlyExisting}; minikube's own kubeconfig is used. ` +
            "Fix: `pulumi config rm --path cluster.kubeconfig` (or `pulumi config set --path cluster.mode existing`)");
    }
    if (cfg.cluster.context !== undefined) {
        problems.push(`${NS}:cluster.context: ${onlyExisting}. ` +
            "Fix: `pulumi config rm --path cluster.context` (or `pulumi config set --path cluster.mode existing`)");
    }
    if (Object.keys(cfg.verification.nodeSelector).length > 0) {
        problems.push(`${NS}:verification.nodeSelector: ${onlyExisting}; a minikube cluster has one GPU node. ` +
            "Fix: `pulumi config rm --path verification.nodeSelector`");
    }
    if (cfg.devicePlugin.mode === "none") {
        problems.push(`${NS}:devicePlugin.mode: found "none", which ${onlyExisting}: on minikube the program manages the plugin. ` +
            "Fix: `pulumi config set --path devicePlugin.mode addon`");
    }
    return { config: cfg, problems };
}

/** Structural equality of JSON values (object key order ignored). */
function deepEqual(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ak = Object.keys(a);
    const bk = Object.keys(b);
    if (ak.length !== bk.length) return false;
    return ak.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
