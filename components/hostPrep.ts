import * as crypto from "crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { hostProbe, hostScript, parseSummary, PROJECT_ROOT } from "./hostCommand";
import { parseNvidiaSmi, NvidiaSmiGpu } from "./nvidiaSmi";

/** Arguments of {@link HostPrep}. */
export interface HostPrepArgs {
    /**
     * The `minikube.gpus` value: preflight checks the installed minikube and Docker support it, the runtime
     * step prepares CDI for `nvidia.com`, and the GPU check starts its container as minikube will. Default: `"all"`.
     */
    minikubeGpus?: pulumi.Input<string>;
    /** `minikube.force`: running as root is then a preflight warning instead of a blocker. Default: `false`. */
    minikubeForce?: boolean;
    /**
     * Names this stack in the host's record of who relies on gpu-minikube's Docker change, so destroying
     * one stack never undoes another's. Default: `<project>.<stack>.<hash of this checkout's path>`.
     */
    owner?: string;
    /** Install the NVIDIA Container Toolkit when it is missing (apt hosts only). Default: `true`. */
    installToolkit?: boolean;
    /** Configure and restart Docker when its `nvidia` runtime is missing. Default: `true`. */
    configureDocker?: boolean;
    /** Deadline in seconds for Docker to come back after a restart and for the GPU check container. Default: `180`. */
    timeoutSeconds?: number;
    /**
     * CUDA image pulled once on the host (pinned by digest in the outputs), used by the Docker-level
     * GPU check and later loaded into minikube for the verification Job.
     * Default: `"nvidia/cuda:12.5.0-base-ubuntu22.04"`.
     */
    cudaImage?: pulumi.Input<string>;
}

/** One GPU as preflight saw it on the host. */
export interface HostGpu {
    /** nvidia-smi index. */
    index: number;
    /** Product name, e.g. `NVIDIA H200`. */
    name: string;
    /** `GPU-…` UUID. */
    uuid: string;
}

/** The preflight script's summary (scripts/preflight.sh). */
export interface PreflightSummary {
    driverVersion: string;
    cudaVersion: string | null;
    gpus: HostGpu[];
    dockerVersion: string;
    dockerDesktop: boolean;
    wsl2: boolean;
    minikubeVersion: string;
    toolkitInstalled: boolean;
    nvidiaRuntime: boolean;
    bpfJitHarden: number | null;
    /** Pulumi runs as root (only passes with `minikube.force`). */
    root: boolean;
    /** The Docker daemon the docker CLI talks to (DOCKER_HOST or the current context); the docker provider uses it too. */
    dockerHost: string;
    /** Docker resolves CDI devices (checked for `minikube.gpus: nvidia.com` only). */
    cdiEnabled: boolean;
    /** /dev/nvidia-modeset exists (null: not checked — WSL2, CDI, or no driver). */
    nvidiaModeset: boolean | null;
    warnings: string[];
}

/** The `hostPrep` stack output. */
export interface HostPrepSummary {
    /** Host NVIDIA driver version. */
    driverVersion: string;
    /** CUDA version the driver supports. */
    cudaVersion: string | null;
    /** GPUs seen by `nvidia-smi` on the host. */
    gpus: HostGpu[];
    /** NVIDIA Container Toolkit version (null when skipped and absent). */
    toolkitVersion: string | null;
    /** Docker lists the `nvidia` runtime after this run. */
    runtimeConfigured: boolean;
    /** What this run changed on the host, e.g. `["toolkit-installed", "docker-runtime-configured", "docker-restarted"]`. */
    changed: string[];
    /** The host is WSL2. */
    wsl2: boolean;
    /** Docker is Docker Desktop (runtime set in its Engine settings, not /etc/docker/daemon.json). */
    dockerDesktop: boolean;
    /** Preflight warnings (e.g. `net.core.bpf_jit_harden` not 0). */
    warnings: string[];
}

/** The `dockerGpuCheck` stack output: `docker run --gpus all <cuda image> nvidia-smi`, parsed. */
export interface DockerGpuCheck {
    /** The container exited 0 and showed at least one GPU. */
    passed: boolean;
    /** The container's exit code. */
    exitCode: number;
    /** Image as configured. */
    image: string;
    /** The image pinned by digest (`repo@sha256:…`), as pulled on the host; null if Docker reported none. */
    imageDigest: string | null;
    /** Driver version seen inside the container. */
    driverVersion: string | null;
    /** CUDA version seen inside the container. */
    cudaVersion: string | null;
    /** GPUs seen inside the container. */
    gpus: NvidiaSmiGpu[];
}

/**
 * Host preparation: preflight → NVIDIA Container Toolkit → Docker `nvidia` runtime → a GPU
 * container run by Docker itself. Each step is a script in `scripts/`; none of them replaces host
 * state (edits re-run in place), and destroy restores Docker's config only where we changed it.
 */
export class HostPrep extends pulumi.ComponentResource {
    /** What preflight found (driver, GPUs, Docker, minikube, WSL2/Docker Desktop). */
    readonly preflight: pulumi.Output<PreflightSummary>;
    /** The `hostPrep` stack output. */
    readonly summary: pulumi.Output<HostPrepSummary>;
    /** The `dockerGpuCheck` stack output. */
    readonly dockerGpuCheck: pulumi.Output<DockerGpuCheck>;
    /** The CUDA image pulled on the host, with its digest (`repo@sha256:…`). */
    readonly cudaImage: docker.RemoteImage;
    /** Depend on this to run after the host is proven ready (the Docker-level GPU check). */
    readonly ready: pulumi.Resource;

    constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:host:HostPrep", name, {}, opts);
        const installToolkit = args.installToolkit ?? true;
        const configureDocker = args.configureDocker ?? true;
        const timeout = String(args.timeoutSeconds ?? 180);
        const image = args.cudaImage ?? "nvidia/cuda:12.5.0-base-ubuntu22.04";
        const gpus = args.minikubeGpus ?? "all";
        const owner = args.owner ?? defaultOwner();

        const preflight = hostScript(`${name}-preflight`, {
            create: "preflight.sh",
            environment: {
                GM_MINIKUBE_GPUS: gpus,
                GM_INSTALL_TOOLKIT: String(installToolkit),
                GM_CONFIGURE_DOCKER: String(configureDocker),
                GM_MINIKUBE_FORCE: String(args.minikubeForce ?? false),
                GM_IMAGE: image,
            },
        }, { parent: this });
        this.preflight = preflight.stdout.apply((out) => toPreflight(parseSummary(out, "preflight.sh")));

        const toolkit = hostScript(`${name}-toolkit`, {
            create: "install-toolkit.sh",
            environment: { GM_INSTALL_TOOLKIT: String(installToolkit) },
        }, { parent: this, dependsOn: [preflight] });

        const toolkitSummary = toolkit.stdout.apply((out) => parseSummary(out, "install-toolkit.sh"));
        const runtime = hostScript(`${name}-docker-runtime`, {
            create: "configure-docker-runtime.sh",
            delete: "restore-docker-runtime.sh",
            environment: {
                GM_CONFIGURE_DOCKER: String(configureDocker),
                GM_TIMEOUT_SECONDS: timeout,
                GM_MINIKUBE_GPUS: gpus,
                GM_OWNER: owner,
                // A toolkit installed by this run makes the runtime step restart Docker once.
                GM_TOOLKIT_INSTALLED_AT: toolkitSummary.apply((t) => (typeof t.installedAt === "number" ? String(t.installedAt) : "")),
            },
        }, { parent: this, dependsOn: [toolkit] });

        // The daemon the scripts' docker CLI uses (DOCKER_HOST or its current context), probed on every
        // preview and up. It is read only once preflight has passed (on a fresh host preflight reports
        // every blocker first); a daemon that is down since then stops the program with preflight's
        // message for it, never with a provider error.
        const endpoint = hostProbe("docker-endpoint.sh", {}, { parent: this })
            .apply((out) => parseSummary(out, "docker-endpoint.sh"));
        const dockerProvider = new docker.Provider(`${name}-docker`, {
            host: pulumi.all([this.preflight, endpoint]).apply(([, ep]) => dockerHostOrStop(ep)),
        }, { parent: this, dependsOn: [preflight] });

        // Pulled through Docker's API once the daemon is back from any restart. keepLocally: the
        // image may have been on the host before us, so destroy must not remove it.
        this.cudaImage = new docker.RemoteImage(`${name}-cuda-image`, {
            name: image,
            keepLocally: true,
        }, { parent: this, dependsOn: [runtime], provider: dockerProvider });

        const gpuCheck = hostScript(`${name}-docker-gpu-check`, {
            create: "docker-gpu-check.sh",
            environment: {
                GM_IMAGE: image,
                GM_MINIKUBE_GPUS: gpus,
                // A new digest behind the same tag re-runs the check.
                GM_IMAGE_ID: this.cudaImage.imageId,
                GM_TIMEOUT_SECONDS: timeout,
            },
        }, { parent: this, dependsOn: [runtime, this.cudaImage] });
        this.ready = gpuCheck;

        const runtimeSummary = runtime.stdout.apply((out) => parseSummary(out, "configure-docker-runtime.sh"));
        this.summary = pulumi.all([this.preflight, toolkitSummary, runtimeSummary])
            .apply(([pre, tk, rt]) => summarizeHostPrep(pre, tk, rt));
        this.dockerGpuCheck = pulumi.all([gpuCheck.stdout, pulumi.output(image), this.cudaImage.repoDigest])
            .apply(([out, img, digest]) => toDockerGpuCheck(parseSummary(out, "docker-gpu-check.sh"), img, digest ?? null));

        this.registerOutputs({ preflight: this.preflight, summary: this.summary, dockerGpuCheck: this.dockerGpuCheck });
    }
}

/** Types the preflight summary, tolerating missing optional fields. */
export function toPreflight(raw: Record<string, unknown>): PreflightSummary {
    const gpus = Array.isArray(raw.gpus) ? raw.gpus : [];
    return {
        driverVersion: str(raw.driverVersion) ?? "",
        cudaVersion: str(raw.cudaVersion),
        gpus: gpus.map((g: Record<string, unknown>) => ({
            index: Number(g.index),
            name: str(g.name) ?? "",
            uuid: str(g.uuid) ?? "",
        })),
        dockerVersion: str(raw.dockerVersion) ?? "",
        dockerDesktop: raw.dockerDesktop === true,
        wsl2: raw.wsl2 === true,
        minikubeVersion: str(raw.minikubeVersion) ?? "",
        toolkitInstalled: raw.toolkitInstalled === true,
        nvidiaRuntime: raw.nvidiaRuntime === true,
        bpfJitHarden: typeof raw.bpfJitHarden === "number" ? raw.bpfJitHarden : null,
        root: raw.root === true,
        dockerHost: str(raw.dockerHost) ?? "",
        cdiEnabled: raw.cdiEnabled === true,
        nvidiaModeset: typeof raw.nvidiaModeset === "boolean" ? raw.nvidiaModeset : null,
        warnings: Array.isArray(raw.warnings) ? raw.warnings.map(String) : [],
    };
}

/** Builds the `hostPrep` output from the three step summaries. */
export function summarizeHostPrep(pre: PreflightSummary, toolkit: Record<string, unknown>,
    runtime: Record<string, unknown>): HostPrepSummary {
    const changed: string[] = [];
    if (toolkit.changed === true) changed.push("toolkit-installed");
    if (runtime.changed === true) changed.push("docker-runtime-configured");
    if (runtime.restarted === true) changed.push("docker-restarted");
    return {
        driverVersion: pre.driverVersion,
        cudaVersion: pre.cudaVersion,
        gpus: pre.gpus,
        toolkitVersion: str(toolkit.version),
        // The runtime step only succeeds once Docker lists the runtime; when skipped, preflight saw it.
        runtimeConfigured: runtime.skipped === true ? pre.nvidiaRuntime : true,
        changed,
        wsl2: pre.wsl2,
        dockerDesktop: pre.dockerDesktop,
        warnings: pre.warnings,
    };
}

/** Parses the GPU check container's log into the `dockerGpuCheck` output. */
export function toDockerGpuCheck(raw: Record<string, unknown>, image: string, imageDigest: string | null): DockerGpuCheck {
    const report = parseNvidiaSmi(typeof raw.log === "string" ? raw.log : "");
    const exitCode = typeof raw.exitCode === "number" ? raw.exitCode : -1;
    return {
        passed: exitCode === 0 && report.gpus.length > 0,
        exitCode,
        image,
        imageDigest: imageDigest === "" ? null : imageDigest,
        driverVersion: report.driverVersion,
        cudaVersion: report.cudaVersion,
        gpus: report.gpus,
    };
}

/**
 * The docker provider's host from the docker-endpoint.sh probe; a daemon that does not answer stops
 * the program with the same message preflight gives for it.
 */
export function dockerHostOrStop(probe: Record<string, unknown>): string {
    if (probe.reachable !== true) {
        throw new pulumi.RunError(`[preflight] ERROR: Docker daemon not reachable (found: ${str(probe.error) ?? "no answer"}). ` +
            `Fix: ${str(probe.fix) ?? "start Docker, then check 'docker info'"}`);
    }
    return str(probe.dockerHost) ?? "unix:///var/run/docker.sock";
}

/**
 * This stack's name in the host's users record: project and stack, plus a hash of the checkout's path,
 * since two checkouts with their own state may both hold a stack called `dev`.
 */
export function defaultOwner(): string {
    const where = crypto.createHash("sha256").update(PROJECT_ROOT).digest("hex").slice(0, 8);
    return `${pulumi.getProject()}.${pulumi.getStack()}.${where}`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 128);
}

function str(v: unknown): string | null {
    return typeof v === "string" && v.length > 0 ? v : null;
}
