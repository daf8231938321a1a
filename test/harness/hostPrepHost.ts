import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { toolPath, toolsMissing } from "./realTools";
import { JournalEntry, ScriptRun, SimHost, STANDINS_DIR, useMinikubeSim } from "./simHost";

/**
 * A simulated host for the host-prep scripts (preflight, toolkit, Docker runtime, GPU check), on top of
 * {@link SimHost}: the stand-ins those scripts meet, and every host path they touch redirected into
 * the sim's temp dir through the scripts' test-only overrides (GM_DOCKER_DAEMON_JSON, GM_HOST_STATE_DIR,
 * GM_PROC_DIR, GM_RUN_DIR, GM_DOCKER_LOG_FILE, GM_WSL_LIB_DIR, GM_APT_KEYRING, GM_APT_LIST), so the
 * machine's real /etc, /var and /proc are never written or read.
 *
 * Docker is the stub daemon of `bin/_dockerd.sh` unless a private real dockerd is attached
 * (privateDocker.ts), in which case the `docker` stand-in passes every call to the real CLI.
 */

/** Stand-ins a host-prep host has by default. */
export const HOST_PREP_STANDINS = [
    "nvidia-smi", "sudo", "docker", "systemctl", "service", "journalctl",
    "apt-get", "dpkg-query", "curl", "gpg", "minikube",
];

/** The NVIDIA Container Toolkit's binaries, as the stand-in apt-get installs them. */
export const TOOLKIT_BINARIES = ["nvidia-ctk", "nvidia-container-runtime-hook", "nvidia-container-runtime", "nvidia-cdi-hook"];

/** The recorded H200's driver version (test/fixtures/nvidia-smi), as the simulated CDI spec names its libraries. */
export const DRIVER_VERSION = "580.159.04";

/** What the simulated driver's libcuda.so.<version> holds, so a container can show it was mounted. */
export const LIBCUDA_CONTENT = `simulated libcuda.so.${DRIVER_VERSION} of the gpu-minikube test host`;

/** Options for {@link HostPrepHost.create}. */
export interface HostPrepHostOptions {
    /** Stand-ins on PATH. Default: {@link HOST_PREP_STANDINS}. */
    standins?: string[];
    /** systemd is PID 1 (else `service` manages Docker, as on WSL2 without systemd). Default: true. */
    systemd?: boolean;
    /** Kernel release in /proc/sys/kernel/osrelease. Default: a stock Ubuntu kernel. */
    osRelease?: string;
    /** net.core.bpf_jit_harden; null: the file is absent. Default: 0. */
    bpfJitHarden?: number | null;
    /** The real nvidia-ctk the toolkit stand-in wraps (SIM_NVIDIA_CTK). */
    nvidiaCtk?: string;
    /** Start with the toolkit installed (package recorded, binaries on PATH). Default: false. */
    toolkitInstalled?: boolean;
    /** Initial /etc/docker/daemon.json; null or omitted: absent. */
    daemonJson?: string | null;
    /** minikube version the stand-in reports. Default: v1.37.0. */
    minikubeVersion?: string;
    /** The stub Docker daemon (ignored once a private dockerd is attached). */
    docker?: StubDockerOptions;
    /** /dev/nvidia-modeset exists (false: a compute-only/headless driver install). Default: true. */
    nvidiaModeset?: boolean;
}

/** What the stub Docker daemon shows. */
export interface StubDockerOptions {
    /** up (default), down (not running) or denied (socket permission). */
    mode?: "up" | "down" | "denied";
    /** `docker info` OperatingSystem, e.g. "Docker Desktop". Default: "Ubuntu 24.04.3 LTS". */
    os?: string;
    /** Server version. Default: 27.5.1. */
    version?: string;
    /** `docker info` DockerRootDir. */
    rootDir?: string;
    /** `docker info` SecurityOptions as a JSON array. */
    securityOptions?: string;
}

/** A host-prep simulated host; call {@link HostPrepHost.cleanup} when done. */
export class HostPrepHost {
    readonly sim: SimHost;
    /** Host paths as the scripts see them (all inside the sim's temp dir). */
    readonly paths: {
        daemonJson: string;
        stateDir: string;
        recordDir: string;
        procDir: string;
        runDir: string;
        wslLibDir: string;
        aptKeyring: string;
        aptList: string;
        /** Where the CDI spec goes (the host's /etc/cdi). */
        cdiSpecDir: string;
        /** The host's /dev, as far as preflight looks (nvidia-modeset). */
        devDir: string;
        /** The driver's libcuda.so.<version>, which the generated CDI spec bind-mounts. */
        libcuda: string;
    };
    private nvidiaCtk?: string;

    private constructor(sim: SimHost) {
        this.sim = sim;
        const fsRoot = sim.fsRoot;
        this.paths = {
            daemonJson: path.join(fsRoot, "etc", "docker", "daemon.json"),
            stateDir: path.join(fsRoot, "var", "lib", "gpu-minikube"),
            recordDir: path.join(fsRoot, "var", "lib", "gpu-minikube", "docker-runtime"),
            procDir: path.join(fsRoot, "proc"),
            runDir: path.join(fsRoot, "run"),
            wslLibDir: path.join(fsRoot, "usr", "lib", "wsl", "lib"),
            aptKeyring: path.join(fsRoot, "usr", "share", "keyrings", "nvidia-container-toolkit-keyring.gpg"),
            aptList: path.join(fsRoot, "etc", "apt", "sources.list.d", "nvidia-container-toolkit.list"),
            cdiSpecDir: path.join(fsRoot, "etc", "cdi"),
            devDir: path.join(fsRoot, "dev"),
            libcuda: path.join(fsRoot, "usr", "lib", "x86_64-linux-gnu", `libcuda.so.${DRIVER_VERSION}`),
        };
    }

    /** A fresh host: GPU and driver, Docker (stub) without the nvidia runtime, no toolkit, minikube v1.37.0. */
    static create(options: HostPrepHostOptions = {}): HostPrepHost {
        const host = new HostPrepHost(SimHost.create({ standins: options.standins ?? HOST_PREP_STANDINS }));
        // Preflight only checks that kubectl is on PATH (the later steps run it): the real kubectl
        // v1.37.2 when built, else an executable that refuses every call.
        if (!options.standins) {
            if (!toolsMissing("kubernetes")) host.sim.addRealTool("kubectl", toolPath("kubernetes", "kubectl"));
            else host.sim.writeStandin("kubectl", 'echo "kubectl: the real kubectl is not built (bash test/tools/build.sh); host-prep tests only need it on PATH" >&2; exit 70');
        }
        host.nvidiaCtk = options.nvidiaCtk;
        for (const dir of [path.join(host.sim.fsRoot, "etc", "apt", "sources.list.d"), host.paths.runDir,
            path.dirname(host.paths.daemonJson)]) {
            fs.mkdirSync(dir, { recursive: true });
        }
        host.setProc({
            systemd: options.systemd ?? true,
            osRelease: options.osRelease ?? "6.8.0-49-generic",
            bpfJitHarden: options.bpfJitHarden === undefined ? 0 : options.bpfJitHarden,
        });
        host.writeDaemonJson(options.daemonJson ?? null);
        // Where the hook and docker stand-ins look for the host's /dev and CDI specs.
        fs.writeFileSync(path.join(host.sim.state, "dev-dir"), host.paths.devDir);
        fs.writeFileSync(path.join(host.sim.state, "cdi-spec-dir"), host.paths.cdiSpecDir);
        host.setModeset(options.nvidiaModeset ?? true);
        // The driver's user-space library: the CDI spec the nvidia-ctk stand-in generates mounts it.
        fs.mkdirSync(path.dirname(host.paths.libcuda), { recursive: true });
        fs.writeFileSync(host.paths.libcuda, `${LIBCUDA_CONTENT}\n`);
        if (options.minikubeVersion) host.setMinikubeVersion(options.minikubeVersion);
        if (options.toolkitInstalled) host.installToolkit();
        host.stubDocker(options.docker ?? {});
        return host;
    }

    /** Rewrites the fake /proc: PID 1's name, kernel release, bpf_jit_harden. */
    setProc(p: { systemd: boolean; osRelease: string; bpfJitHarden: number | null }): void {
        const proc = this.paths.procDir;
        fs.rmSync(proc, { recursive: true, force: true });
        fs.mkdirSync(path.join(proc, "1"), { recursive: true });
        fs.mkdirSync(path.join(proc, "sys", "kernel"), { recursive: true });
        fs.mkdirSync(path.join(proc, "sys", "net", "core"), { recursive: true });
        fs.writeFileSync(path.join(proc, "1", "comm"), p.systemd ? "systemd\n" : "init\n");
        fs.writeFileSync(path.join(proc, "sys", "kernel", "osrelease"), `${p.osRelease}\n`);
        if (p.bpfJitHarden !== null) fs.writeFileSync(path.join(proc, "sys", "net", "core", "bpf_jit_harden"), `${p.bpfJitHarden}\n`);
    }

    /** Creates or removes the host's /dev/nvidia-modeset (a plain file: only its existence is checked). */
    setModeset(present: boolean): void {
        fs.mkdirSync(this.paths.devDir, { recursive: true });
        const node = path.join(this.paths.devDir, "nvidia-modeset");
        if (present) fs.writeFileSync(node, "");
        else fs.rmSync(node, { force: true });
    }

    /** The CUDA version the (simulated) driver supports, as the hook stand-in checks images against. */
    setDriverCuda(version: string): void {
        fs.writeFileSync(path.join(this.sim.state, "driver-cuda"), `${version}\n`);
    }

    /** Writes (or, with null, removes) the host's daemon.json. */
    writeDaemonJson(content: string | null): void {
        if (content === null) fs.rmSync(this.paths.daemonJson, { force: true });
        else fs.writeFileSync(this.paths.daemonJson, content);
    }

    /** The host's daemon.json, or null when absent. */
    readDaemonJson(): string | null {
        return fs.existsSync(this.paths.daemonJson) ? fs.readFileSync(this.paths.daemonJson, "utf8") : null;
    }

    /** The version `minikube version --short` reports. */
    setMinikubeVersion(version: string): void {
        useMinikubeSim(this.sim, version);
    }

    /** As if `apt-get install nvidia-container-toolkit` had run before (no journal entries). */
    installToolkit(version = "1.20.0"): void {
        fs.mkdirSync(path.join(this.sim.state, "dpkg"), { recursive: true });
        for (const pkg of ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container1", "libnvidia-container-tools"]) {
            fs.writeFileSync(path.join(this.sim.state, "dpkg", pkg), `${version}-1\n`);
        }
        for (const bin of TOOLKIT_BINARIES) {
            this.sim.removeStandin(bin);
            this.sim.addStandin(bin);
        }
    }

    /** Whether the toolkit's binaries are on PATH. */
    toolkitOnPath(): boolean {
        return TOOLKIT_BINARIES.every((b) => fs.existsSync(path.join(this.sim.bin, b)));
    }

    /**
     * Sets what the stub Docker daemon shows and (re)starts it, so it reads daemon.json and sees
     * whether the toolkit hook is on PATH, as dockerd does at start.
     */
    stubDocker(o: StubDockerOptions): void {
        const dir = path.join(this.sim.state, "docker");
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "config-file"), this.paths.daemonJson);
        const set = (name: string, v: string | undefined) => {
            if (v === undefined) fs.rmSync(path.join(dir, name), { force: true });
            else fs.writeFileSync(path.join(dir, name), v);
        };
        set("os", o.os);
        set("version", o.version);
        set("rootdir", o.rootDir);
        set("secopts", o.securityOptions);
        this.restartStubDocker();
        set("mode", o.mode ?? "up");
    }

    /** Restarts the stub daemon out of band (not journaled), e.g. after preparing daemon.json. */
    restartStubDocker(): void {
        // Runs with this host's PATH, so `command -v nvidia-container-runtime-hook` sees the toolkit as dockerd would.
        const res = spawnSync("bash", ["-c", 'source "$STANDINS/_dockerd.sh" && stub_start'], {
            env: { ...this.sim.env(), STANDINS: STANDINS_DIR },
            encoding: "utf8",
        });
        if (res.status !== 0) throw new Error(`stub dockerd start failed: ${res.stderr}`);
    }

    /** The stub daemon's PID history (one entry per start). */
    stubDockerPids(): number[] {
        const file = path.join(this.sim.state, "docker", "pids");
        return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number) : [];
    }

    /** The environment that points the scripts' host paths into this sim. */
    hostEnv(): Record<string, string> {
        const realDockerd = fs.existsSync(path.join(this.sim.state, "dockerd", "conf"));
        return {
            GM_DOCKER_DAEMON_JSON: this.paths.daemonJson,
            GM_HOST_STATE_DIR: this.paths.stateDir,
            GM_PROC_DIR: this.paths.procDir,
            GM_RUN_DIR: this.paths.runDir,
            GM_WSL_LIB_DIR: this.paths.wslLibDir,
            GM_APT_KEYRING: this.paths.aptKeyring,
            GM_APT_LIST: this.paths.aptList,
            GM_CDI_SPEC_DIR: this.paths.cdiSpecDir,
            GM_DEV_DIR: this.paths.devDir,
            GM_DOCKER_LOG_FILE: realDockerd
                ? path.join(this.sim.state, "dockerd", "dockerd.log")
                : path.join(this.sim.state, "docker", "log"),
            SIM_FS: this.sim.fsRoot,
            ...(this.nvidiaCtk ? { SIM_NVIDIA_CTK: this.nvidiaCtk } : {}),
        };
    }

    /**
     * Runs scripts/SCRIPT with the given inputs on this host. With SIM_UID among them, the `id`
     * stand-in goes on PATH first, so the script believes it runs as that user (the real `id` is
     * used otherwise: it is called often, and a stand-in costs a bash start each time).
     */
    run(script: string, inputs: Record<string, string> = {}, timeoutMs = 60_000): Promise<ScriptRun> {
        // Preflight refuses root (minikube's docker driver does), and the tests really run as root:
        // it sees the normal user the README asks for unless a test says otherwise (SIM_UID "0").
        if (script === "preflight.sh" && inputs.SIM_UID === undefined) inputs = { ...inputs, SIM_UID: "1000" };
        if (inputs.SIM_UID !== undefined && !fs.existsSync(path.join(this.sim.bin, "id"))) this.sim.addStandin("id");
        return this.sim.runScript(script, { ...this.hostEnv(), ...inputs }, timeoutMs);
    }

    /** Calls that change the host: package installs, key/repo downloads, nvidia-ctk edits, Docker (re)starts. */
    mutatingCalls(): JournalEntry[] {
        return this.sim.journal().filter(isMutating);
    }

    /** Names of the files in the record dir (what configure recorded for restore). */
    record(): Record<string, string> | null {
        if (!fs.existsSync(this.paths.recordDir)) return null;
        const out: Record<string, string> = {};
        for (const f of fs.readdirSync(this.paths.recordDir)) out[f] = fs.readFileSync(path.join(this.paths.recordDir, f), "utf8");
        return out;
    }

    cleanup(): void {
        this.sim.cleanup();
    }
}

/** Whether a journaled call changes the host. */
export function isMutating(e: JournalEntry): boolean {
    const words = e.args.filter((a) => !a.startsWith("-"));
    switch (e.cmd) {
        case "apt-get": return words.some((w) => ["install", "update", "remove", "upgrade"].includes(w));
        case "curl":
        case "gpg": return true;
        case "nvidia-ctk": return e.args[0] === "runtime" || (e.args[0] === "cdi" && e.args[1] !== "list");
        case "systemctl": return words.some((w) => ["restart", "start", "stop", "reload", "try-restart", "reload-or-restart"].includes(w));
        case "service": return words.some((w) => ["restart", "start", "stop", "reload"].includes(w));
        default: return false;
    }
}
