import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findExecutable as findOnPath, isExecutable } from "./executable";
import { NVIDIA_SMI_FIXTURES, SimHost, STANDINS_DIR } from "./simHost";

/**
 * A private, real Docker daemon for the host-prep tests (issue 6). It never uses the machine's default
 * socket or a bridge network: its own data-root, exec-root, pidfile, unix socket and --config-file,
 * all under temp dirs, with `--bridge=none --iptables=false --ip6tables=false`.
 *
 * The daemon is attached to a {@link SimHost}: its config file is that host's daemon.json and its
 * control file lives in the host's state, so the `systemctl`/`service` stand-ins restart THIS daemon
 * (its PID changes) and the `docker` stand-in talks to it through the real CLI. Its PATH is a small
 * dir of the engine's own helpers (containerd, runc, …) plus the host's stand-in dir, where the
 * stand-in apt-get installs the toolkit: dockerd registers its GPU driver only when
 * nvidia-container-runtime-hook is there at start, as on a real host.
 *
 * One {@link DockerEngine} per test file holds the data-root (and the test image, imported once from
 * a busybox-static rootfs whose `nvidia-smi` prints the recorded H200 output, with NVIDIA_REQUIRE_CUDA
 * "cuda>=12.5" as nvidia/cuda:12.5.0 images have); daemons attached to
 * successive hosts reuse it, one at a time. Call {@link DockerEngine.shutdown} in an `after` hook: it
 * stops any daemon still running (also its containerd) and removes the temp dirs.
 */

/** The image the GPU check runs on the private daemon. */
export const TEST_IMAGE = "gpu-minikube-test/nvidia-smi:h200";

/** Engine helpers dockerd runs by name; only these (and the sim's stand-ins) are on its PATH. */
const ENGINE_HELPERS = [
    "containerd", "containerd-shim", "containerd-shim-runc-v1", "containerd-shim-runc-v2", "ctr", "runc",
    "docker-init", "docker-proxy", "unpigz", "pigz", "xz", "gzip", "tar", "modprobe", "mount", "umount",
    "bash", "sh", "env", "cat", "sed", "grep", "cut", "head", "tail", "tr", "mkdir", "date", "sleep", "sha256sum",
    "dirname", "readlink",
];

/** Utilities linked into the test image next to busybox. */
const IMAGE_APPLETS = ["sh", "cat", "grep", "echo", "true", "false", "ls", "head", "tail", "sed", "env", "sleep"];

/**
 * Which Docker Engine a {@link DockerEngine} runs. Default (both unset): the packaged one, dockerd on
 * PATH and the CLI beside it (Debian's docker.io 20.10, which predates CDI).
 */
export interface DockerEngineOptions {
    /** The dockerd binary, e.g. the CDI-capable 28.5.2 test/tools/build.sh builds. Default: dockerd on PATH. */
    dockerd?: string;
    /** The docker CLI that drives it. Default: $GM_TEST_DOCKER_CLI, else the CLI packaged with dockerd, else PATH's. */
    cli?: string;
}

/** Why the real-daemon tests cannot run here (with the engine OPTIONS names), or undefined when they can. */
export function privateDockerMissing(options: DockerEngineOptions = {}): string | undefined {
    if (process.env.GM_TEST_NO_REAL_DOCKER) return "GM_TEST_NO_REAL_DOCKER is set";
    if (process.platform !== "linux") return "the private dockerd needs Linux";
    if (typeof process.getuid === "function" && process.getuid() !== 0) return "the private dockerd needs root (run the tests as root, as CI does)";
    for (const [what, file] of [["dockerd", options.dockerd], ["docker CLI", options.cli]] as const) {
        if (file !== undefined && !isExecutable(file)) return `the ${what} ${file} is not there (test/tools/build.sh docker builds it)`;
    }
    if (!options.dockerd && !findExecutable("dockerd")) return "dockerd is not installed (Debian/Ubuntu: apt-get install docker.io)";
    if (!options.cli && !dockerCli()) return "the docker CLI is not installed (Debian/Ubuntu: apt-get install docker.io)";
    if (!findExecutable("containerd") || !findExecutable("runc")) return "containerd/runc are not installed (they come with docker.io)";
    if (!busybox()) return "busybox-static is not installed (Debian/Ubuntu: apt-get install busybox-static)";
    if (!findExecutable("unshare")) return "unshare (util-linux) is not installed";
    // The daemon runs with a private dir bound over /etc/docker; the mount point must already exist
    // (docker.io ships it) because creating it would write to the real /etc.
    if (!fs.existsSync("/etc/docker")) return "/etc/docker does not exist (the docker.io package creates it; the tests will not create it in the real /etc)";
    return undefined;
}

/**
 * Skips the calling test with REASON, except under CI (`process.env.CI` set), where a skipped
 * real-daemon test would hide a broken setup: there it throws, failing the test.
 */
export function skipUnlessCi(t: { skip: (message?: string) => void }, reason: string): void {
    if (process.env.CI) {
        throw new Error(`CI must run the real-daemon host-prep tests, but: ${reason}. .ci/run installs docker.io and busybox-static and builds nvidia-ctk.`);
    }
    t.skip(reason);
}

/** The shared data-root of one test file's daemons. */
export class DockerEngine {
    readonly root: string;
    readonly dataRoot: string;
    readonly execRoot: string;
    readonly daemonBin: string;
    readonly dockerd: string;
    readonly cli: string;
    /** `dockerd --version`'s version, e.g. "20.10.24+dfsg1" or "28.5.2". */
    readonly version: string;
    /**
     * Docker 25+ resolves CDI devices. Its daemons are started with `--cdi-spec-dir` set to the host's
     * CDI dir (HostPrepHost's, where the scripts write the spec) in place of the default /etc/cdi and
     * /var/run/cdi, which are the real machine's.
     */
    readonly cdiCapable: boolean;
    private running: PrivateDocker | undefined;
    private imageReady = false;
    private readonly exitHook: () => void;

    constructor(options: DockerEngineOptions = {}) {
        const missing = privateDockerMissing(options);
        if (missing) throw new Error(missing);
        // Short paths: containerd's sockets live under the exec-root and unix socket paths are limited.
        this.root = fs.mkdtempSync(path.join(os.tmpdir(), "gm-dkr-"));
        this.dataRoot = path.join(this.root, "data");
        this.execRoot = path.join(this.root, "exec");
        this.daemonBin = path.join(this.root, "bin");
        for (const d of [this.dataRoot, this.execRoot, this.daemonBin]) fs.mkdirSync(d, { recursive: true });
        this.dockerd = options.dockerd ?? findExecutable("dockerd") as string;
        this.cli = options.cli ?? dockerCli() as string;
        const v = spawnSync(this.dockerd, ["--version"], { encoding: "utf8", timeout: 20_000 });
        this.version = /Docker version ([^,\s]+)/.exec(v.stdout ?? "")?.[1] ?? "";
        if (!this.version) throw new Error(`${this.dockerd} --version printed no version: ${v.stdout}${v.stderr}`);
        this.cdiCapable = Number(this.version.split(".")[0]) >= 25;
        for (const name of ENGINE_HELPERS) {
            const real = findExecutable(name);
            if (real) fs.symlinkSync(real, path.join(this.daemonBin, name));
        }
        // Last resort if the test process dies without running `after` hooks.
        this.exitHook = () => this.killEverything();
        process.on("exit", this.exitHook);
    }

    /** Starts a daemon for HOST (whose daemon.json is its config file) and waits until it answers. */
    async start(host: SimHost, configFile: string): Promise<PrivateDocker> {
        if (this.running?.alive()) throw new Error("DockerEngine: one daemon at a time; stop the previous one first");
        const daemon = new PrivateDocker(this, host, configFile);
        this.running = daemon;
        daemon.control("start", "--wait");
        if (!daemon.alive() || !daemon.answers()) {
            throw new Error(`private dockerd did not start; its log:\n${daemon.logTail(30)}`);
        }
        if (!this.imageReady) {
            this.importTestImage(daemon);
            this.imageReady = true;
        }
        return daemon;
    }

    /** Builds the test image: busybox-static, an nvidia-smi that prints the recorded H200 output. */
    private importTestImage(daemon: PrivateDocker): void {
        const rootfs = path.join(this.root, "rootfs");
        fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true });
        fs.mkdirSync(path.join(rootfs, "usr", "bin"), { recursive: true });
        fs.mkdirSync(path.join(rootfs, "usr", "share", "nvidia-smi"), { recursive: true });
        fs.mkdirSync(path.join(rootfs, "tmp"), { recursive: true });
        fs.copyFileSync(busybox() as string, path.join(rootfs, "bin", "busybox"));
        fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
        for (const a of IMAGE_APPLETS) fs.symlinkSync("busybox", path.join(rootfs, "bin", a));
        for (const f of ["smi-table.txt", "smi-L.txt", "smi-query.csv"]) {
            fs.copyFileSync(path.join(NVIDIA_SMI_FIXTURES, f), path.join(rootfs, "usr", "share", "nvidia-smi", f));
        }
        fs.writeFileSync(path.join(rootfs, "usr", "bin", "nvidia-smi"), [
            "#!/bin/sh",
            "# Prints nvidia-smi output recorded on a real H200 (test/fixtures/nvidia-smi).",
            "d=/usr/share/nvidia-smi",
            'case "$*" in',
            '    "") cat "$d/smi-table.txt" ;;',
            '    -L) cat "$d/smi-L.txt" ;;',
            '    *--query-gpu=*noheader*) grep -v "^index" "$d/smi-query.csv" ;;',
            '    *--query-gpu=*) cat "$d/smi-query.csv" ;;',
            '    *) cat "$d/smi-table.txt" ;;',
            "esac",
            "",
        ].join("\n"), { mode: 0o755 });
        // Like nvidia/cuda:12.5.0-base (its Dockerfile sets NVIDIA_REQUIRE_CUDA), so the toolkit's
        // requirement check has something to check against the driver's CUDA.
        const res = spawnSync("bash", ["-c", 'tar -C "$ROOTFS" -c . | "$CLI" import --change "ENV NVIDIA_REQUIRE_CUDA=cuda>=12.5" - "$IMAGE"'], {
            env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ROOTFS: rootfs, CLI: this.cli, IMAGE: TEST_IMAGE, ...daemon.env() },
            encoding: "utf8",
        });
        if (res.status !== 0) throw new Error(`docker import of the test image failed: ${res.stderr}`);
    }

    /** Stops the running daemon (if any), kills anything left of ours, removes the temp dirs. */
    async shutdown(): Promise<void> {
        this.running?.stop();
        this.killEverything();
        process.removeListener("exit", this.exitHook);
        fs.rmSync(this.root, { recursive: true, force: true });
    }

    /**
     * Kills (by PID) every process whose command line names our temp root: dockerd, its containerd,
     * shims. Their mounts live in the daemon's private mount namespace and vanish with it.
     */
    killEverything(): void {
        const pids: number[] = [];
        for (const entry of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
            try {
                const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
                if (cmdline.includes(this.root)) pids.push(Number(entry));
            } catch {
                // gone already
            }
        }
        for (const pid of pids) {
            try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
        }
    }
}

/** One running private dockerd, attached to a simulated host. */
export class PrivateDocker {
    readonly dir: string;
    readonly sock: string;
    readonly log: string;

    constructor(private readonly engine: DockerEngine, readonly host: SimHost, readonly configFile: string) {
        this.dir = path.join(host.state, "dockerd");
        fs.mkdirSync(this.dir, { recursive: true });
        this.sock = path.join(this.dir, "docker.sock");
        this.log = path.join(this.dir, "dockerd.log");
        const conf: Record<string, string> = {
            DOCKERD: engine.dockerd,
            DOCKER_CLI: engine.cli,
            DATA_ROOT: engine.dataRoot,
            EXEC_ROOT: engine.execRoot,
            CONFIG_FILE: configFile,
            SOCK: this.sock,
            PIDFILE: path.join(this.dir, "docker.pid"),
            LOG: this.log,
            DAEMON_PATH: `${host.bin}:${engine.daemonBin}`,
        };
        const cdiDirFile = path.join(host.state, "cdi-spec-dir");
        if (engine.cdiCapable && fs.existsSync(cdiDirFile)) conf.CDI_SPEC_DIR = fs.readFileSync(cdiDirFile, "utf8").trim();
        fs.writeFileSync(path.join(this.dir, "conf"),
            Object.entries(conf).map(([k, v]) => `${k}=${shellQuote(v)}\n`).join(""));
    }

    /** Runs `_dockerd.sh VERB…` (not journaled: this is the test acting, not the host). */
    control(...verb: string[]): void {
        const res = spawnSync("bash", [path.join(STANDINS_DIR, "_dockerd.sh"), ...verb], {
            env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SIM_STATE: this.host.state },
            encoding: "utf8",
            timeout: 60_000,
        });
        if (res.status !== 0 && verb[0] !== "start" && verb[0] !== "restart") {
            throw new Error(`_dockerd.sh ${verb.join(" ")} failed: ${res.stderr}`);
        }
    }

    /** DOCKER_HOST for this daemon. */
    env(): Record<string, string> {
        return { DOCKER_HOST: `unix://${this.sock}` };
    }

    /** The daemon's current PID (0 when none recorded). */
    pid(): number {
        const file = path.join(this.dir, "pid");
        return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").trim()) : 0;
    }

    /** Every PID the daemon had, one per start (the first is the fixture's own start). */
    pids(): number[] {
        const file = path.join(this.dir, "pids");
        return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number) : [];
    }

    alive(): boolean {
        const pid = this.pid();
        if (!pid) return false;
        try {
            process.kill(pid, 0);
            return true;
        } catch {
            return false;
        }
    }

    answers(): boolean {
        return this.docker(["version", "--format", "{{.Server.Version}}"]).code === 0;
    }

    /** Runs the real docker CLI against this daemon (not journaled). */
    docker(args: string[], timeoutMs = 60_000): { code: number | null; stdout: string; stderr: string } {
        const res = spawnSync(this.engine.cli, args, {
            env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: this.host.home, ...this.env() },
            encoding: "utf8",
            timeout: timeoutMs,
        });
        return { code: res.status, stdout: res.stdout ?? "", stderr: res.stderr ?? "" };
    }

    /** `docker info --format FORMAT`, trimmed; throws when the daemon does not answer. */
    info(format: string): string {
        const r = this.docker(["info", "--format", format]);
        if (r.code !== 0) throw new Error(`docker info failed: ${r.stderr}`);
        return r.stdout.trim();
    }

    /** The runtimes `docker info` lists. */
    runtimes(): string[] {
        return Object.keys(JSON.parse(this.info("{{json .Runtimes}}")) as Record<string, unknown>).sort();
    }

    /** From now on the daemon starts with these extra flags (e.g. a bad one: it will not come back). */
    breakStarts(extraArgs: string[]): void {
        fs.writeFileSync(path.join(this.dir, "extra-args"), extraArgs.map((a) => `${a}\n`).join(""));
    }

    /** Undoes {@link breakStarts}. */
    fixStarts(): void {
        fs.rmSync(path.join(this.dir, "extra-args"), { force: true });
    }

    /** Restarts the daemon out of band (the test acting, e.g. so it reads a prepared daemon.json). */
    restart(): void {
        this.control("restart", "--wait");
        if (!this.answers()) throw new Error(`private dockerd did not come back; its log:\n${this.logTail(30)}`);
    }

    /** The last N lines of the daemon's log. */
    logTail(n: number): string {
        return fs.existsSync(this.log) ? fs.readFileSync(this.log, "utf8").split("\n").slice(-n).join("\n") : "";
    }

    /** Stops the daemon (SIGTERM, then SIGKILL after 20 s). */
    stop(): void {
        this.control("stop");
    }
}

function shellQuote(s: string): string {
    return `'${s.replace(/'/g, "'\\''")}'`;
}

/** NAME on PATH, else in the system directories a daemon's binaries live in (a CI PATH may lack sbin). */
function findExecutable(name: string): string | undefined {
    return findOnPath(name, ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
}

/** The docker CLI to drive the private daemon: $GM_TEST_DOCKER_CLI, else the one packaged with dockerd, else PATH's. */
function dockerCli(): string | undefined {
    if (process.env.GM_TEST_DOCKER_CLI) return process.env.GM_TEST_DOCKER_CLI;
    const dockerd = findExecutable("dockerd");
    if (dockerd) {
        const beside = path.join(path.dirname(path.dirname(dockerd)), "bin", "docker");
        if (fs.existsSync(beside)) return beside;
    }
    return findExecutable("docker");
}

function busybox(): string | undefined {
    for (const p of ["/bin/busybox", "/usr/bin/busybox"]) {
        if (fs.existsSync(p)) return p;
    }
    return undefined;
}
