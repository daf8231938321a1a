import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { minikubeConfigTemplate, minikubeProfileJson } from "./minikubeProfile";

/**
 * A simulated host for the script tests (DESIGN.md §5): stand-ins on PATH for what cannot run here,
 * state in a temp dir, every stand-in call journaled, any call made to fail or hang on demand.
 * PATH holds only the stand-ins and a whitelist of basic utilities, so a tool that is not added
 * (docker, minikube, …) is really absent for the script under test.
 */

/** Repository root. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The stand-in commands. */
export const STANDINS_DIR = path.join(__dirname, "bin");
/** Recorded real nvidia-smi outputs (H200). */
export const NVIDIA_SMI_FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "nvidia-smi");

/** Utilities a stock Ubuntu/WSL2 host has and our scripts may use. Deliberately no jq, python or docker. */
const BASE_UTILITIES = [
    "bash", "sh", "env", "cat", "grep", "sed", "awk", "cut", "tr", "head", "tail", "sort", "uniq", "wc",
    "date", "sleep", "timeout", "mkdir", "rm", "cp", "mv", "ln", "chmod", "touch", "stat", "sha256sum",
    "cmp", "diff", "mktemp", "id", "uname", "dirname", "basename", "readlink", "realpath", "find",
    "xargs", "tee", "ls", "true", "false", "seq", "kill", "ps", "base64", "od", "printf", "test", "[",
    "getent", "whoami", "hostname", "tac", "paste", "expr", "nproc", "sync", "install", "dpkg",
];

/** One journaled stand-in call. */
export interface JournalEntry {
    /** The stand-in's name, e.g. `systemctl`. */
    cmd: string;
    /** Its arguments. */
    args: string[];
}

/** A fault injected into a stand-in. */
export interface Fault {
    /** Applies when this is a substring of the space-joined arguments; `*` (default) matches every call. */
    match?: string;
    /** Exit status; omit to continue normally after the hang/message. */
    exitCode?: number;
    /** Seconds to sleep first (simulates a hang). */
    hangSeconds?: number;
    /** Printed on stderr (`printf %b` escapes allowed). */
    stderr?: string;
}

/** The result of running a script on the simulated host. */
export interface ScriptRun {
    code: number | null;
    stdout: string;
    stderr: string;
    durationMs: number;
}

/** Options for {@link SimHost.create}. */
export interface SimHostOptions {
    /** Stand-ins from `test/harness/bin` to put on PATH. Default: `nvidia-smi` and `sudo`. */
    standins?: string[];
    /** Extra directories to put on PATH after the stand-ins (e.g. a real docker CLI's dir). */
    extraPath?: string[];
}

/** A simulated host living in a temp dir; call {@link SimHost.cleanup} when done. */
export class SimHost {
    /** Temp root of everything this host owns. */
    readonly root: string;
    /** The stand-in directory on PATH. */
    readonly bin: string;
    /** Stand-in state (journal, faults, per-tool state). */
    readonly state: string;
    /** A private HOME for the scripts. */
    readonly home: string;
    /** Fake filesystem root for host paths the scripts allow overriding (`/etc/docker`, …). */
    readonly fsRoot: string;
    private readonly sysbin: string;
    private readonly extraPath: string[];

    private constructor(root: string, extraPath: string[]) {
        this.root = root;
        this.bin = path.join(root, "bin");
        this.sysbin = path.join(root, "sysbin");
        this.state = path.join(root, "state");
        this.home = path.join(root, "home");
        this.fsRoot = path.join(root, "fs");
        this.extraPath = extraPath;
    }

    /** Creates a fresh simulated host with the chosen stand-ins. */
    static create(options: SimHostOptions = {}): SimHost {
        const host = new SimHost(fs.mkdtempSync(path.join(os.tmpdir(), "gm-sim-")), options.extraPath ?? []);
        for (const dir of [host.bin, host.sysbin, host.state, path.join(host.state, "faults"), host.home, host.fsRoot]) {
            fs.mkdirSync(dir, { recursive: true });
        }
        fs.writeFileSync(path.join(host.state, "journal"), "");
        fs.copyFileSync(path.join(STANDINS_DIR, "_sim.sh"), path.join(host.bin, "_sim.sh"));
        for (const name of options.standins ?? ["nvidia-smi", "sudo"]) host.addStandin(name);
        for (const util of BASE_UTILITIES) {
            const real = findOnPath(util);
            if (real) fs.symlinkSync(real, path.join(host.sysbin, util));
        }
        return host;
    }

    /** Puts stand-in NAME (a file in test/harness/bin) on this host's PATH. */
    addStandin(name: string): void {
        fs.symlinkSync(path.join(STANDINS_DIR, name), path.join(this.bin, name));
    }

    /**
     * Puts the real tool at REAL_PATH on PATH as NAME, behind a wrapper that journals each call (and
     * applies injected faults) like a stand-in's, then runs the real binary with the same arguments.
     */
    addRealTool(name: string, realPath: string): void {
        const file = path.join(this.bin, name);
        fs.rmSync(file, { force: true });
        fs.writeFileSync(file, `#!/usr/bin/env bash\nsource "$(dirname "$0")/_sim.sh"\nsim_call ${name} "$@"\nexec ${JSON.stringify(realPath)} "$@"\n`, { mode: 0o755 });
    }

    /** Takes NAME off PATH (the tool is then absent). */
    removeStandin(name: string): void {
        fs.rmSync(path.join(this.bin, name), { force: true });
    }

    /** Puts an executable with this bash body on PATH (for one-off behaviour a test needs). */
    writeStandin(name: string, body: string): void {
        const file = path.join(this.bin, name);
        fs.rmSync(file, { force: true });
        fs.writeFileSync(file, `#!/usr/bin/env bash\nsource "$(dirname "$0")/_sim.sh"\nsim_call ${name} "$@"\n${body}\n`, { mode: 0o755 });
    }

    /** Makes stand-in CMD fail or hang on matching calls; faults for a command apply first-added first. */
    fault(cmd: string, fault: Fault): void {
        const line = [fault.match ?? "*", fault.exitCode ?? "-", fault.hangSeconds ?? 0, fault.stderr ?? ""].join("\t");
        fs.appendFileSync(path.join(this.state, "faults", cmd), `${line}\n`);
    }

    /** Removes every fault of CMD. */
    clearFaults(cmd: string): void {
        fs.rmSync(path.join(this.state, "faults", cmd), { force: true });
    }

    /** Every stand-in call so far, in order. */
    journal(): JournalEntry[] {
        return fs.readFileSync(path.join(this.state, "journal"), "utf8").split("\n").filter((l) => l.length > 0)
            .map((line) => {
                const [cmd, ...args] = line.split("\x1f");
                return { cmd, args };
            });
    }

    /** Forgets the journal (e.g. between a first and a second run). */
    resetJournal(): void {
        fs.writeFileSync(path.join(this.state, "journal"), "");
    }

    /** The calls of CMD whose space-joined arguments contain every one of WORDS. */
    calls(cmd: string, ...words: string[]): JournalEntry[] {
        return this.journal().filter((e) => e.cmd === cmd && words.every((w) => e.args.join(" ").includes(w)));
    }

    /** The environment scripts run with: private HOME, state dirs, stand-ins first on PATH. */
    env(extra: Record<string, string> = {}): Record<string, string> {
        return {
            PATH: [this.bin, ...this.extraPath, this.sysbin].join(":"),
            HOME: this.home,
            LANG: "C.UTF-8",
            SIM_STATE: this.state,
            SIM_NVIDIA_SMI_DIR: NVIDIA_SMI_FIXTURES,
            ...extra,
        };
    }

    /**
     * Runs scripts/SCRIPT with only the given environment (plus {@link env}); never throws on failure.
     * `cwd` (default: the repository root, where Pulumi runs commands) lets a test prove a script
     * does not depend on the caller's directory.
     */
    runScript(script: string, extraEnv: Record<string, string> = {}, timeoutMs = 60_000, cwd = REPO_ROOT): Promise<ScriptRun> {
        const started = Date.now();
        return new Promise((resolve, reject) => {
            const child = spawn(path.join(this.sysbin, "bash"), [path.join(REPO_ROOT, "scripts", script)], {
                cwd,
                env: this.env(extraEnv),
                stdio: ["ignore", "pipe", "pipe"],
                detached: true,
            });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
            child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
            const timer = setTimeout(() => {
                // Kill the whole process group so a hung stand-in does not outlive the test.
                try { process.kill(-(child.pid ?? 0), "SIGKILL"); } catch { /* already gone */ }
            }, timeoutMs);
            child.on("error", (err) => { clearTimeout(timer); reject(err); });
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve({ code, stdout, stderr, durationMs: Date.now() - started });
            });
        });
    }

    /** Removes the temp dir. */
    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}

/** The last JSON object line of a script's stdout (its summary), or throws. */
export function summaryOf(run: ScriptRun): Record<string, unknown> {
    const lines = run.stdout.trim().split("\n");
    const last = lines[lines.length - 1] ?? "";
    try {
        return JSON.parse(last) as Record<string, unknown>;
    } catch {
        throw new Error(`no JSON summary line; stdout=${JSON.stringify(run.stdout)} stderr=${JSON.stringify(run.stderr)}`);
    }
}

function findOnPath(name: string): string | undefined {
    for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
        const candidate = path.join(dir, name);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return fs.realpathSync(candidate);
        } catch {
            // keep looking
        }
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Simulated minikube (stand-in test/harness/bin/minikube). Kubernetes itself is real: the script tests
// run the real kubectl against a real control plane (controlPlane.ts, sharedControlPlane.ts).

/** A minikube profile as it exists on the simulated host before a script runs. */
export interface MinikubeProfile {
    /** Profile name. Default `gpu-minikube`. */
    name?: string;
    /** Node state. Default `Running`. `Nonexistent`: config.json is there, the node container is not. */
    status?: "Running" | "Stopped" | "Paused" | "Nonexistent";
    /** Default 4. */
    cpus?: number;
    /** In MB. Default 8192. */
    memoryMb?: number;
    /** Default `docker`. */
    driver?: string;
    /** `--gpus` it was created with; `null` writes a config without the GPUs key (minikube < v1.32). Default `all`. */
    gpus?: string | null;
    /** Default `v1.34.0`. */
    kubernetesVersion?: string;
    /** Default `docker`. */
    containerRuntime?: string;
    /** Enabled addons. Default: storage-provisioner, default-storageclass, nvidia-device-plugin, ingress. */
    addons?: string[];
    /**
     * Images in the node, as `minikube image ls` lists them: a name, or a name with its image id (64 hex, with or
     * without `sha256:`; without one the stand-in's id is the sha256 of the name). Default: none.
     */
    images?: Array<string | { name: string; id: string }>;
}

/** minikube's own directory on the simulated host (MINIKUBE_HOME unset: ~/.minikube). */
export function minikubeHome(host: SimHost): string {
    return path.join(host.home, ".minikube");
}

/** Puts the minikube stand-in on PATH (minikube v1.37.0 unless `version` says otherwise). */
export function useMinikubeSim(host: SimHost, version?: string): void {
    if (!fs.existsSync(path.join(host.bin, "minikube"))) host.addStandin("minikube");
    fs.mkdirSync(path.join(host.state, "minikube", "profiles"), { recursive: true });
    if (version) fs.writeFileSync(path.join(host.state, "minikube", "version"), `${version}\n`);
    // The stand-in's `start` fills this in: the profile's config.json in minikube's own format.
    fs.writeFileSync(path.join(host.state, "minikube", "config-template.json"), minikubeConfigTemplate());
}

/**
 * Creates a minikube profile as minikube leaves it: config.json (json.MarshalIndent, 4 spaces, Go
 * field names) under ~/.minikube/profiles/<name>/, the certificates, and the stand-in's node state.
 */
export function writeMinikubeProfile(host: SimHost, profile: MinikubeProfile = {}): void {
    useMinikubeSim(host);
    const name = profile.name ?? "gpu-minikube";
    const k8s = profile.kubernetesVersion ?? "v1.34.0";
    const runtime = profile.containerRuntime ?? "docker";
    const config = minikubeProfileJson({
        name, cpus: profile.cpus ?? 4, memoryMb: profile.memoryMb ?? 8192, driver: profile.driver ?? "docker",
        gpus: profile.gpus === null ? null : profile.gpus ?? "all", kubernetesVersion: k8s, containerRuntime: runtime, addons: profile.addons ?? [],
    });
    const mh = minikubeHome(host);
    const dir = path.join(mh, "profiles", name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "config.json"), config);
    fs.writeFileSync(path.join(mh, "ca.crt"), "-----BEGIN CERTIFICATE-----\nSIMULATED-MINIKUBE-CA\n-----END CERTIFICATE-----\n");
    fs.writeFileSync(path.join(dir, "client.crt"), `-----BEGIN CERTIFICATE-----\nSIMULATED-CLIENT-CERT-${name}\n-----END CERTIFICATE-----\n`);
    fs.writeFileSync(path.join(dir, "client.key"), `-----BEGIN RSA PRIVATE KEY-----\nSIMULATED-CLIENT-KEY-${name}\n-----END RSA PRIVATE KEY-----\n`, { mode: 0o600 });
    const sim = path.join(host.state, "minikube", "profiles", name);
    fs.mkdirSync(sim, { recursive: true });
    fs.writeFileSync(path.join(sim, "status"), `${profile.status ?? "Running"}\n`);
    const addons = profile.addons ?? ["storage-provisioner", "default-storageclass", "nvidia-device-plugin", "ingress"];
    fs.writeFileSync(path.join(sim, "addons"), addons.map((a) => `${a}\n`).join(""));
    fs.writeFileSync(path.join(sim, "images"), (profile.images ?? []).map((i) => (typeof i === "string" ? `${i}\n` : `${i.name} ${i.id}\n`)).join(""));
}

/**
 * The id each image gets in the node when the minikube stand-in's `image load` loads it (its `image-ids` state):
 * reference (as given to `image load`, or as listed) → id. Replaces what was set before.
 */
export function minikubeImageLoadIds(host: SimHost, ids: Record<string, string>): void {
    const dir = path.join(host.state, "minikube");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "image-ids"), Object.entries(ids).map(([ref, id]) => `${ref} ${id}\n`).join(""));
}

/** The images in the stand-in's node (name → id, as its state holds them; undefined id: the stand-in's default). */
export function minikubeNodeImages(host: SimHost, name = "gpu-minikube"): Record<string, string | undefined> {
    const file = path.join(host.state, "minikube", "profiles", name, "images");
    if (!fs.existsSync(file)) return {};
    const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim().length > 0);
    return Object.fromEntries(lines.map((l) => { const [n, id] = l.trim().split(/\s+/); return [n, id]; }));
}

/** The stand-in's view of a profile: node status and enabled addons (undefined when it does not exist). */
export function minikubeProfileState(host: SimHost, name = "gpu-minikube"): { status: string; addons: string[] } | undefined {
    const sim = path.join(host.state, "minikube", "profiles", name);
    if (!fs.existsSync(path.join(minikubeHome(host), "profiles", name, "config.json"))) return undefined;
    const read = (f: string) => (fs.existsSync(path.join(sim, f)) ? fs.readFileSync(path.join(sim, f), "utf8") : "");
    return { status: read("status").trim(), addons: read("addons").split("\n").filter((l) => l.length > 0) };
}

/** Makes the minikube stand-in's next `start` misbehave: hang (sleep) after its first lines, or fail. */
export function minikubeStartBehaviour(host: SimHost, b: { hangSeconds?: number; failExitCode?: number; failMessage?: string }): void {
    const dir = path.join(host.state, "minikube");
    fs.mkdirSync(dir, { recursive: true });
    if (b.hangSeconds !== undefined) fs.writeFileSync(path.join(dir, "start-hang-seconds"), `${b.hangSeconds}\n`);
    if (b.failExitCode !== undefined) fs.writeFileSync(path.join(dir, "start-fail"), `${b.failExitCode}\n`);
    if (b.failMessage !== undefined) fs.writeFileSync(path.join(dir, "start-fail-message"), `${b.failMessage}\n`);
}
