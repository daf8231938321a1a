import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, it } from "node:test";
import { parseNvidiaSmi } from "../../components/nvidiaSmi";
import { HostPrepHost, HostPrepHostOptions } from "../harness/hostPrepHost";
import { ensureNvidiaCtk } from "../harness/nvidiaCtk";
import { ScriptRun, STANDINS_DIR, summaryOf } from "../harness/simHost";

/**
 * Host-prep scripts on the simulated host with the STUB Docker daemon (no dockerd needed, runs
 * everywhere): preflight, toolkit install, and the Docker-runtime/GPU-check paths that need no real
 * daemon. The same flows against a real private dockerd and the real nvidia-ctk are in
 * hostPrep.docker.test.ts.
 */

const IMAGE = "nvidia/cuda:12.5.0-base-ubuntu22.04";
const INPUTS = {
    GM_MINIKUBE_GPUS: "all",
    GM_INSTALL_TOOLKIT: "true",
    GM_CONFIGURE_DOCKER: "true",
    GM_TIMEOUT_SECONDS: "10",
    GM_IMAGE: IMAGE,
    GM_OWNER: "gpu-minikube.dev.0a1b2c3d",
};
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
/** The R610 H200 recording (test/fixtures/nvidia-smi/h200-610-*): driver 610.43.02, CUDA 13.3, UUID masked by its collector. */
const R610 = { SIM_NVIDIA_SMI_DRIVER: "610" };
const R610_UUID = "GPU-00000000-0000-0000-0000-000000000000";
const NVIDIA_RUNTIME_JSON = '{\n    "runtimes": {\n        "nvidia": {\n            "args": [],\n            "path": "nvidia-container-runtime"\n        }\n    }\n}';

const hosts: HostPrepHost[] = [];
afterEach(() => {
    while (hosts.length) hosts.pop()?.cleanup();
});

function host(options: HostPrepHostOptions = {}): HostPrepHost {
    const h = HostPrepHost.create(options);
    hosts.push(h);
    return h;
}

/** A host that is ready: toolkit installed, Docker lists the nvidia runtime. */
function readyHost(options: HostPrepHostOptions = {}): HostPrepHost {
    const h = host({ toolkitInstalled: true, daemonJson: NVIDIA_RUNTIME_JSON, ...options });
    h.restartStubDocker();
    return h;
}

/** The `[stage] ERROR: …` lines of a run. */
function errors(run: ScriptRun): string[] {
    return run.stderr.split("\n").filter((l) => /^\[[a-z-]+\] ERROR: /.test(l));
}

function assertFailed(run: ScriptRun, stage: string, pattern: RegExp): void {
    assert.equal(run.code, 1, `expected exit 1; stderr:\n${run.stderr}`);
    const lines = errors(run);
    assert.ok(lines.some((l) => l.startsWith(`[${stage}] ERROR: `) && pattern.test(l) && / \(found: .*\)\. Fix: ./.test(l)),
        `no "[${stage}] ERROR: … (found: …). Fix: …" line matching ${pattern}; stderr:\n${run.stderr}`);
}

describe("preflight.sh", () => {
    it("reports driver, CUDA, GPUs, Docker, minikube and the host's state on a ready host, read-only", async () => {
        const h = readyHost();
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "preflight",
            driverVersion: "580.159.04",
            cudaVersion: "13.0",
            gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }],
            dockerVersion: "27.5.1",
            dockerDesktop: false,
            wsl2: false,
            minikubeVersion: "v1.37.0",
            toolkitInstalled: true,
            nvidiaRuntime: true,
            bpfJitHarden: 0,
            root: false,
            dockerHost: "unix:///var/run/docker.sock",
            cdiEnabled: false,
            nvidiaModeset: true,
            warnings: [],
        });
        assert.deepEqual(h.mutatingCalls(), []);
        // Nothing needs root on a ready host, so sudo is not even asked.
        assert.deepEqual(h.sim.calls("sudo"), []);
    });

    it("on a fresh host sees the toolkit and the runtime missing, and checks sudo for what will need root", async () => {
        const h = host({ standins: undefined });
        const run = await h.run("preflight.sh", { ...INPUTS, SIM_UID: "1000" });
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.toolkitInstalled, false);
        assert.equal(s.nvidiaRuntime, false);
        assert.equal(h.sim.calls("sudo", "-n", "true").length, 1);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    // How fast the no-GPU and sudo cases fail is measured by `npm run bench` (test/bench/preflight-bench.ts).
    it("no GPU: nvidia-smi missing is a blocker naming the driver install", async () => {
        const h = readyHost();
        h.sim.removeStandin("nvidia-smi");
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /NVIDIA driver not found.*no nvidia-smi on PATH.*ubuntu-drivers/);
        const s = summaryOf(run);
        assert.equal(s.driverVersion, "");
        assert.deepEqual(s.gpus, []);
        assert.equal((s.blockers as string[]).length, 1);
    });

    it("no GPU: nvidia-smi that cannot talk to the driver is a blocker quoting it", async () => {
        const h = readyHost();
        h.sim.fault("nvidia-smi", { exitCode: 9, stderr: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." });
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /cannot talk to the NVIDIA driver \(found: NVIDIA-SMI has failed because it couldn't communicate.*\(exit 9\)\)/);
    });

    // R610 (issue 15's follow-up): the table says "KMD Version" / "CUDA UMD Version", `--version` says
    // "KMD version" / "CUDA UMD version", and the csv has kmd_version next to the deprecated driver_version.
    it("R610 driver: reads the driver and the CUDA version from R610's new labels", async () => {
        const h = readyHost();
        const run = await h.run("preflight.sh", { ...INPUTS, ...R610 });
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.driverVersion, "610.43.02");
        assert.equal(s.cudaVersion, "13.3");
        assert.deepEqual(s.gpus, [{ index: 0, name: "NVIDIA H200", uuid: R610_UUID }]);
        assert.deepEqual(s.warnings, []);
        // One csv query and the table: `--version` is only asked when the table has no CUDA line.
        assert.equal(h.sim.calls("nvidia-smi", "--query-gpu").length, 1);
        assert.deepEqual(h.sim.calls("nvidia-smi", "--version"), []);
    });

    it("R610 driver whose table gives no answer: the CUDA version comes from `nvidia-smi --version`", async () => {
        const h = readyHost();
        // The table call fails (as a hung one cut at the deadline would); every other call is the R610 recording.
        h.sim.writeStandin("nvidia-smi", `[ "$#" -gt 0 ] || exit 6\nsource ${JSON.stringify(path.join(STANDINS_DIR, "_smi.sh"))}\nsmi_output "$@"`);
        const run = await h.run("preflight.sh", { ...INPUTS, ...R610 });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).cudaVersion, "13.3");
        assert.equal(h.sim.calls("nvidia-smi", "--version").length, 1);
    });

    it("R610 CUDA version below the image's: the image warning uses the CUDA UMD version", async () => {
        const h = readyHost();
        const run = await h.run("preflight.sh", { ...INPUTS, ...R610, GM_IMAGE: "nvidia/cuda:13.4.0-base-ubuntu24.04" });
        assert.equal(run.code, 0, run.stderr);
        assert.match((summaryOf(run).warnings as string[]).join("\n"), /the driver supports CUDA 13\.3 but nvidia\/cuda:13\.4\.0-base-ubuntu24\.04 needs CUDA 13\.4/);
    });

    it("a driver_version column that is not a version ([N/A]) is not taken: the table's banner gives it, else a warning", async () => {
        // HYPOTHETICAL answer: real nvidia-smi prints "[N/A]" in fields it cannot read (h200-610-query-all-fields.csv),
        // not (yet) seen in driver_version; every other call is the 580 recording.
        const smi = (table: string) => `source ${JSON.stringify(path.join(STANDINS_DIR, "_smi.sh"))}\n` +
            `case "$*" in *--query-gpu=*) echo "0, NVIDIA H200, ${H200_UUID}, [N/A]" ;; "") ${table} ;; *) smi_output "$@" ;; esac`;
        const h = readyHost();
        h.sim.writeStandin("nvidia-smi", smi("smi_output"));
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).driverVersion, "580.159.04", "from the table's 'Driver Version:'");
        assert.deepEqual(summaryOf(run).warnings, []);

        const bare = readyHost();
        bare.sim.writeStandin("nvidia-smi", smi("exit 6"));
        const noTable = await bare.run("preflight.sh", INPUTS);
        assert.equal(noTable.code, 0, noTable.stderr);
        assert.equal(summaryOf(noTable).driverVersion, "");
        assert.match((summaryOf(noTable).warnings as string[]).join("\n"), /nvidia-smi gave no driver version \(its --query-gpu answer: 0, NVIDIA H200, GPU-[0-9a-f-]+, \[N\/A\]\)/);
    });

    it("driver 580 rejects kmd_version, so the driver comes from driver_version in one call", async () => {
        const h = readyHost();
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).driverVersion, "580.159.04");
        const queries = h.sim.calls("nvidia-smi", "--query-gpu");
        assert.equal(queries.length, 1, "preflight speed: no second nvidia-smi query on today's drivers");
        assert.match(queries[0].args.join(" "), /--query-gpu=index,name,uuid,driver_version /);
    });

    it("a driver without driver_version (NVIDIA: removed in CUDA 14.0) is read through kmd_version", async () => {
        const h = readyHost();
        // nvidia-smi's answer to a field it does not know, as driver 580 gives for kmd_version
        // (h200c-580-query-kmd-version-error.txt); the kmd_version query is the R610 recording.
        h.sim.fault("nvidia-smi", { match: "driver_version", exitCode: 2, stderr: 'Field "driver_version" is not a valid field to query.' });
        const run = await h.run("preflight.sh", { ...INPUTS, ...R610 });
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.driverVersion, "610.43.02");
        assert.deepEqual(s.gpus, [{ index: 0, name: "NVIDIA H200", uuid: R610_UUID }]);
        assert.equal(h.sim.calls("nvidia-smi", "kmd_version").length, 1);
    });

    it("a driver that knows neither field is a blocker quoting nvidia-smi", async () => {
        const h = readyHost();
        h.sim.fault("nvidia-smi", { match: "_version", exitCode: 2, stderr: 'Field "x" is not a valid field to query.' });
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /cannot talk to the NVIDIA driver \(found: Field "x" is not a valid field to query\. \(exit 2\)\)/);
    });

    it("a hung nvidia-smi is cut off at the per-call deadline", async () => {
        const h = readyHost();
        h.sim.fault("nvidia-smi", { hangSeconds: 30 });
        const run = await h.run("preflight.sh", { ...INPUTS, GM_PREFLIGHT_CALL_SECONDS: "1" });
        assertFailed(run, "preflight", /nvidia-smi did not answer \(found: no reply within 1s\)/);
        assert.ok(run.durationMs < 1000 + 4000, `took ${run.durationMs} ms for a 1 s deadline`);
    });

    it("no Docker: CLI missing, daemon down, or socket permission each get their own fix", async () => {
        const cases: [Partial<HostPrepHostOptions>, (h: HostPrepHost) => void, RegExp][] = [
            [{}, (h) => h.sim.removeStandin("docker"), /Docker CLI not found.*docs\.docker\.com\/engine\/install/],
            [{ docker: { mode: "down" } }, () => undefined, /Docker daemon not reachable \(found: Cannot connect to the Docker daemon.*Fix: start Docker: 'sudo systemctl start docker'/],
            [{ docker: { mode: "denied" } }, () => undefined, /Docker daemon not reachable \(found: permission denied.*Fix: let this user use Docker: sudo usermod -aG docker/],
        ];
        for (const [options, tweak, pattern] of cases) {
            const h = host({ toolkitInstalled: true, ...options });
            tweak(h);
            const run = await h.run("preflight.sh", INPUTS);
            assertFailed(run, "preflight", pattern);
        }
    });

    it("minikube: missing or older than the --gpus value needs is a blocker", async () => {
        const cases: [string, string | null, RegExp | null][] = [
            ["all", "v1.31.2", /minikube v1\.31\.2 is too old for --gpus=all \(found: v1\.31\.2 \(needs ≥ v1\.32\)\)/],
            ["nvidia", "v1.32.0", null],
            ["nvidia.com", "v1.36.0", /minikube v1\.36\.0 is too old for --gpus=nvidia\.com .*needs ≥ v1\.37/],
            ["nvidia.com", "v1.37.0", null],
            ["all", null, /minikube not found .*minikube\.sigs\.k8s\.io/],
        ];
        for (const [gpus, version, pattern] of cases) {
            const h = readyHost(version ? { minikubeVersion: version } : {});
            if (!version) h.sim.removeStandin("minikube");
            const run = await h.run("preflight.sh", { ...INPUTS, GM_MINIKUBE_GPUS: gpus });
            if (pattern) assertFailed(run, "preflight", pattern);
            else {
                assert.equal(run.code, 0, run.stderr);
                assert.equal(summaryOf(run).minikubeVersion, version);
            }
        }
    });

    it("kubectl missing is a blocker (later steps talk to the cluster with it)", async () => {
        const h = readyHost();
        h.sim.removeStandin("kubectl");
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /kubectl not found \(found: no kubectl on PATH\)\. Fix: install kubectl: https:\/\/kubernetes\.io/);
    });

    it("sudo that needs a password is a blocker (never a prompt) when root will be needed", async () => {
        const h = host();
        const run = await h.run("preflight.sh", { ...INPUTS, SIM_UID: "1000", SIM_SUDO: "password" });
        assertFailed(run, "preflight", /root is needed for installing the NVIDIA Container Toolkit and configuring Docker's nvidia runtime, but sudo asks for a password \(found: sudo: a password is required\).*sudo -v/);
        // On a ready host the same user needs no root, so no blocker.
        const ready = readyHost();
        const ok = await ready.run("preflight.sh", { ...INPUTS, SIM_UID: "1000", SIM_SUDO: "password" });
        assert.equal(ok.code, 0, ok.stderr);
    });

    it("reports every blocker at once", async () => {
        const h = host({ minikubeVersion: "v1.30.1", docker: { mode: "down" } });
        h.sim.removeStandin("nvidia-smi");
        const run = await h.run("preflight.sh", { ...INPUTS, SIM_UID: "1000", SIM_SUDO: "password" });
        assert.equal(run.code, 1);
        const lines = errors(run);
        assert.equal(lines.length, 4, run.stderr);
        assert.match(lines.join("\n"), /NVIDIA driver not found[\s\S]*Docker daemon not reachable[\s\S]*sudo asks for a password[\s\S]*minikube v1\.30\.1 is too old/);
        assert.equal((summaryOf(run).blockers as string[]).length, 4);
    });

    it("toolkit missing and installToolkit false, or a host without apt, is a blocker pointing at NVIDIA's guide", async () => {
        const h = host();
        const run = await h.run("preflight.sh", { ...INPUTS, GM_INSTALL_TOOLKIT: "false" });
        assertFailed(run, "preflight", /not installed and installToolkit is false.*install-guide\.html.*installToolkit: true/);
        const noApt = host();
        noApt.sim.removeStandin("apt-get");
        const run2 = await noApt.run("preflight.sh", INPUTS);
        assertFailed(run2, "preflight", /cannot install the NVIDIA Container Toolkit automatically \(found: no apt-get.*install-guide\.html/);
    });

    it("WSL2: finds nvidia-smi in /usr/lib/wsl/lib, flags wsl2", async () => {
        const h = readyHost({ osRelease: "5.15.167.4-microsoft-standard-WSL2", systemd: false });
        h.sim.removeStandin("nvidia-smi");
        fs.mkdirSync(h.paths.wslLibDir, { recursive: true });
        fs.symlinkSync(path.join(h.sim.bin, "_sim.sh"), path.join(h.paths.wslLibDir, "_sim.sh"));
        fs.symlinkSync(path.resolve(__dirname, "../harness/bin/nvidia-smi"), path.join(h.paths.wslLibDir, "nvidia-smi"));
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.wsl2, true);
        assert.equal(s.driverVersion, "580.159.04");
        // Not shown to work: a labelled warning with the upstream issue, never a silent pass.
        assert.match((s.warnings as string[]).join("\n"), /^WSL2 is not a supported GPU host for minikube: .*https:\/\/github\.com\/kubernetes\/minikube\/issues\/17654.*has not been shown to work on WSL2/m);
        assert.equal(s.nvidiaModeset, null, "WSL2 has no /dev/nvidia* nodes to check");
        // Without the Windows driver, the blocker says where the driver belongs.
        fs.rmSync(path.join(h.paths.wslLibDir, "nvidia-smi"));
        const run2 = await h.run("preflight.sh", INPUTS);
        assertFailed(run2, "preflight", /NVIDIA driver not visible in WSL2.*install the NVIDIA driver on Windows/);
    });

    it("WSL1 is a blocker", async () => {
        const h = readyHost({ osRelease: "4.4.0-19041-Microsoft" });
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /WSL1 has no GPU support.*wsl --set-version/);
    });

    it("Docker Desktop: flagged; without the nvidia runtime a blocker with the Engine-settings steps", async () => {
        const h = host({ toolkitInstalled: true, osRelease: "5.15.167.4-microsoft-standard-WSL2", docker: { os: "Docker Desktop" } });
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /Docker Desktop has no nvidia runtime.*Settings → Docker Engine.*"nvidia-container-runtime".*Apply & restart/);
        assert.equal(summaryOf(run).dockerDesktop, true);
        // Docker Desktop on WSL2 with the runtime passes (with the WSL2 warning).
        const ok = readyHost({ osRelease: "5.15.167.4-microsoft-standard-WSL2", docker: { os: "Docker Desktop" } });
        const run2 = await ok.run("preflight.sh", INPUTS);
        assert.equal(run2.code, 0, run2.stderr);
        assert.equal(summaryOf(run2).dockerDesktop, true);
    });

    it("Docker Desktop on Linux (not WSL2) is a blocker, even with the nvidia runtime: its engine's VM has no GPU", async () => {
        const h = readyHost({ docker: { os: "Docker Desktop" } });
        const run = await h.run("preflight.sh", INPUTS);
        assertFailed(run, "preflight", /Docker Desktop for Linux cannot give containers a GPU \(found: docker info: OperatingSystem=Docker Desktop .*on Linux \(not WSL2\)\)\. Fix: .*VM .*docs\.docker\.com\/desktop\/features\/gpu.*docker context use default/);
        assert.equal((summaryOf(run).blockers as string[]).length, 1);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("root: a blocker naming the docker-group user and sudo -v, before anything changes; minikube.force turns it into a warning", async () => {
        const h = host();
        const run = await h.run("preflight.sh", { ...INPUTS, SIM_UID: "0", SIM_USER: "root" });
        assertFailed(run, "preflight", /running as root: minikube's docker driver refuses root \(DRV_AS_ROOT\) \(found: uid 0 \(root\)\)\. Fix: run Pulumi as a normal user in the docker group: .*usermod -aG docker <user>.*sudo -v.*pulumi config set --path minikube\.force true/);
        assert.equal(summaryOf(run).root, true);
        assert.deepEqual(h.mutatingCalls(), []);
        assert.doesNotMatch(run.stderr, /(run|as) (pulumi up |'pulumi up' )?as root/i);
        const forced = await h.run("preflight.sh", { ...INPUTS, SIM_UID: "0", SIM_USER: "root", GM_MINIKUBE_FORCE: "true" });
        assert.equal(forced.code, 0, forced.stderr);
        assert.match((summaryOf(forced).warnings as string[]).join("\n"), /running as root with minikube\.force true: 'minikube start' gets --force/);
    });

    it("compute-only driver (no /dev/nvidia-modeset): a warning with the fix for --gpus all|nvidia; not asked for CDI", async () => {
        const h = readyHost({ nvidiaModeset: false });
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.nvidiaModeset, false);
        assert.match((s.warnings as string[]).join("\n"), /\/nvidia-modeset is missing .*issues\/20934.*sudo nvidia-modprobe -m.*sudo modprobe nvidia-modeset/);
        const cdi = summaryOf(await h.run("preflight.sh", { ...INPUTS, GM_MINIKUBE_GPUS: "nvidia.com" }));
        assert.equal(cdi.nvidiaModeset, null);
    });

    it("the image's CUDA above the driver's: a warning naming both and the fix", async () => {
        const h = readyHost();
        const run = await h.run("preflight.sh", { ...INPUTS, GM_IMAGE: "nvidia/cuda:13.1.0-base-ubuntu24.04" });
        assert.equal(run.code, 0, run.stderr);
        assert.match((summaryOf(run).warnings as string[]).join("\n"), /the driver supports CUDA 13\.0 but nvidia\/cuda:13\.1\.0-base-ubuntu24\.04 needs CUDA 13\.1: .*unsatisfied condition: cuda>=13\.1.*verification\.image/);
        const fine = await h.run("preflight.sh", { ...INPUTS, GM_IMAGE: IMAGE });
        assert.deepEqual(summaryOf(fine).warnings, []);
    });

    it("CDI (nvidia.com): Docker older than 25 is a blocker; a CDI-capable Docker without CDI on means a change (and sudo)", async () => {
        const old = readyHost({ docker: { version: "24.0.7" } });
        assertFailed(await old.run("preflight.sh", { ...INPUTS, GM_MINIKUBE_GPUS: "nvidia.com" }), "preflight",
            /nvidia\.com \(CDI\) needs Docker Engine 25 or newer \(found: Docker 24\.0\.7\)/);
        const h = readyHost();
        const run = await h.run("preflight.sh", { ...INPUTS, GM_MINIKUBE_GPUS: "nvidia.com" });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).cdiEnabled, false);
        assert.equal(h.sim.calls("sudo", "-n", "true").length, 1, "configuring CDI and writing the spec will need root");
    });

    it("reports the daemon the docker CLI uses (DOCKER_HOST or the current context), for the Pulumi docker provider", async () => {
        const h = readyHost();
        assert.equal(summaryOf(await h.run("preflight.sh", { ...INPUTS, DOCKER_HOST: "unix:///run/user/1000/docker.sock" })).dockerHost,
            "unix:///run/user/1000/docker.sock");
    });

    it("net.core.bpf_jit_harden: reported; not 0 is a warning; unreadable is null", async () => {
        const h = readyHost({ bpfJitHarden: 2 });
        const run = await h.run("preflight.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.bpfJitHarden, 2);
        assert.match((s.warnings as string[])[0], /bpf_jit_harden is 2.*sysctl -w net\.core\.bpf_jit_harden=0/);
        const h2 = readyHost({ bpfJitHarden: null });
        assert.equal(summaryOf(await h2.run("preflight.sh", INPUTS)).bpfJitHarden, null);
    });

    it("rejects inputs outside their enums", async () => {
        const h = readyHost();
        for (const [name, value] of [["GM_MINIKUBE_GPUS", "amd"], ["GM_INSTALL_TOOLKIT", "yes"], ["GM_CONFIGURE_DOCKER", "1; reboot"]]) {
            const run = await h.run("preflight.sh", { ...INPUTS, [name]: value });
            assertFailed(run, "preflight", new RegExp(`input ${name} must be`));
        }
        assert.deepEqual(h.sim.calls("nvidia-smi"), [], "nothing runs before the inputs are valid");
    });
});

describe("docker-endpoint.sh (probe for the docker provider)", () => {
    it("names the daemon the CLI uses and whether it answers; exits 0 either way, read-only", async () => {
        const h = readyHost();
        const up = await h.run("docker-endpoint.sh", { DOCKER_HOST: "unix:///run/user/1000/docker.sock" });
        assert.equal(up.code, 0, up.stderr);
        assert.deepEqual(summaryOf(up), { stage: "docker-endpoint", dockerHost: "unix:///run/user/1000/docker.sock", reachable: true, error: null, fix: null });
        const down = host({ docker: { mode: "down" } });
        const run = await down.run("docker-endpoint.sh");
        assert.equal(run.code, 0);
        const s = summaryOf(run);
        assert.equal(s.reachable, false);
        assert.match(String(s.error), /Cannot connect to the Docker daemon/);
        assert.match(String(s.fix), /sudo systemctl start docker/);
        assert.deepEqual(down.mutatingCalls(), []);
    });
});

describe("npm run doctor", () => {
    it("is preflight alone with the config's defaults: read-only, every blocker listed, exit 1 when not ready", async () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { scripts: Record<string, string> };
        const doctor = pkg.scripts.doctor;
        assert.match(doctor, /bash scripts\/preflight\.sh$/);
        const h = host();
        h.sim.addStandin("id");
        const { spawnSync } = await import("node:child_process");
        const res = spawnSync("sh", ["-c", doctor], {
            cwd: path.join(__dirname, "..", ".."), encoding: "utf8", env: { ...h.sim.env(), ...h.hostEnv(), SIM_UID: "1000" },
        });
        assert.equal(res.status, 0, res.stderr);
        const s = JSON.parse(res.stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
        assert.equal(s.stage, "preflight");
        assert.deepEqual(h.mutatingCalls(), []);
        const asRoot = spawnSync("sh", ["-c", doctor], {
            cwd: path.join(__dirname, "..", ".."), encoding: "utf8", env: { ...h.sim.env(), ...h.hostEnv(), SIM_UID: "0" },
        });
        assert.equal(asRoot.status, 1);
        assert.match(asRoot.stderr, /running as root/);
    });
});

describe("install-toolkit.sh", () => {
    it("fresh apt host: NVIDIA's keyring and signed source, apt-get update, install; then a second run changes nothing", async () => {
        const h = host();
        const run = await h.run("install-toolkit.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const installed = summaryOf(run);
        assert.ok(typeof installed.installedAt === "number" && Math.abs(installed.installedAt - Date.now() / 1000) < 120, "when it installed, for the runtime step");
        assert.deepEqual(installed, { stage: "toolkit", changed: true, skipped: false, version: "1.20.0", installedAt: installed.installedAt });
        const steps = h.mutatingCalls().map((e) => `${e.cmd} ${e.args.filter((a) => !a.startsWith("/tmp/")).join(" ")}`);
        assert.deepEqual(steps, [
            "curl -fsSL --retry 2 -o https://nvidia.github.io/libnvidia-container/gpgkey",
            "curl -fsSL --retry 2 -o https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list",
            "gpg --batch --yes --dearmor -o",
            "apt-get -o DPkg::Lock::Timeout=120 update",
            "apt-get -o DPkg::Lock::Timeout=120 install -y nvidia-container-toolkit",
        ]);
        assert.equal(fs.readFileSync(h.paths.aptList, "utf8"),
            `deb [signed-by=${h.paths.aptKeyring}] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n` +
            // NVIDIA's documented sed signs the commented-out experimental line too.
            `#deb [signed-by=${h.paths.aptKeyring}] https://nvidia.github.io/libnvidia-container/experimental/deb/$(ARCH) /\n`);
        assert.match(fs.readFileSync(h.paths.aptKeyring, "utf8"), /^SIMULATED-DEARMORED-KEY /);
        assert.ok(h.toolkitOnPath());

        h.sim.resetJournal();
        const again = await h.run("install-toolkit.sh", INPUTS);
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(summaryOf(again), { stage: "toolkit", changed: false, skipped: false, version: "1.20.0", installedAt: null });
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("already installed: reports the package version, changes nothing (also with installToolkit false)", async () => {
        const h = host({ toolkitInstalled: true });
        const run = await h.run("install-toolkit.sh", { ...INPUTS, GM_INSTALL_TOOLKIT: "false" });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "toolkit", changed: false, skipped: true, version: "1.20.0", installedAt: null });
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("missing with installToolkit false: error saying how to install or enable", async () => {
        const h = host();
        const run = await h.run("install-toolkit.sh", { ...INPUTS, GM_INSTALL_TOOLKIT: "false" });
        assertFailed(run, "toolkit", /not installed and installToolkit is false.*install-guide\.html.*installToolkit: true/);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("a host without apt: error with NVIDIA's install guide", async () => {
        const h = host();
        h.sim.removeStandin("apt-get");
        const run = await h.run("install-toolkit.sh", INPUTS);
        assertFailed(run, "toolkit", /cannot install .* \(found: no apt-get \(not Debian\/Ubuntu\)\)\. Fix: .*docs\.nvidia\.com\/datacenter\/cloud-native\/container-toolkit\/latest\/install-guide\.html/);
    });

    it("apt failure: error naming the stage, apt's error and the fix; its last lines shown", async () => {
        const h = host();
        h.sim.fault("apt-get", { match: "install", exitCode: 100, stderr: "E: Failed to fetch https://nvidia.github.io/libnvidia-container/stable/deb/amd64/nvidia-container-toolkit_1.20.0-1_amd64.deb  Connection timed out" });
        const run = await h.run("install-toolkit.sh", INPUTS);
        assertFailed(run, "toolkit", /apt-get install failed \(found: E: Failed to fetch .*Connection timed out \(exit 100\)\)\. Fix: fix the apt error/);
        assert.match(run.stderr, /apt-get install failed \(exit 100\); its last lines:\n {2}\| E: Failed to fetch/);
        assert.ok(!h.toolkitOnPath());
    });

    it("network failure downloading NVIDIA's key: error before anything is written", async () => {
        const h = host();
        h.sim.fault("curl", { exitCode: 6, stderr: "curl: (6) Could not resolve host: nvidia.github.io" });
        const run = await h.run("install-toolkit.sh", INPUTS);
        assertFailed(run, "toolkit", /could not download NVIDIA's signing key \(found: curl https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey: curl: \(6\) Could not resolve host/);
        assert.ok(!fs.existsSync(h.paths.aptKeyring));
        assert.ok(!fs.existsSync(h.paths.aptList));
    });

    it("sudo that needs a password: clear error before any change", async () => {
        const h = host();
        const run = await h.run("install-toolkit.sh", { ...INPUTS, SIM_UID: "1000", SIM_SUDO: "password" });
        assertFailed(run, "toolkit", /root is needed for installing the NVIDIA Container Toolkit \(found: sudo asks for a password/);
        assert.deepEqual(h.mutatingCalls().filter((e) => e.cmd !== "curl"), []);
    });

    it("as a user with passwordless sudo, every root step goes through sudo -n", async () => {
        const h = host();
        const run = await h.run("install-toolkit.sh", { ...INPUTS, SIM_UID: "1000" });
        assert.equal(run.code, 0, run.stderr);
        const viaSudo = h.sim.calls("sudo").map((e) => e.args.slice(0, 2).join(" "));
        assert.ok(viaSudo.every((a) => a.startsWith("-n ")), viaSudo.join("\n"));
        assert.ok(viaSudo.some((a) => a === "-n gpg"));
        assert.equal(h.sim.calls("sudo", "apt-get", "install").length, 1);
    });
});

describe("CDI, minikube.gpus nvidia.com (stub Docker 27 with its CDI feature, real nvidia-ctk)", () => {
    // The private dockerd of hostPrep.docker.test.ts is Debian's 20.10, which predates CDI (Docker 25):
    // there it is proven that CDI is refused with the reason. Here the stub Docker models 25–28.1
    // (CDI only with "features": {"cdi": true}) and the real nvidia-ctk edits daemon.json and reads the spec.
    const ctk = ensureNvidiaCtk();
    if (ctk.missing && process.env.CI) {
        it("CI runs the CDI tests", () => { throw new Error(`the real nvidia-ctk is missing: ${ctk.missing}`); });
    }
    const CDI = { ...INPUTS, GM_MINIKUBE_GPUS: "nvidia.com" };

    it("up: runtime + features.cdi by the real nvidia-ctk, a spec defining nvidia.com/gpu=all, one restart, GPU check with --device; re-run changes nothing; destroy undoes both", { skip: ctk.missing ?? false }, async () => {
        const h = host({ toolkitInstalled: true, nvidiaCtk: ctk.path });
        // Before: Docker cannot resolve the CDI device.
        const before = await h.run("docker-gpu-check.sh", CDI);
        assertFailed(before, "docker-gpu-check", /Docker does not resolve CDI devices.*could not select device driver "cdi"/);

        const up = summaryOf(await h.run("configure-docker-runtime.sh", CDI));
        assert.deepEqual(up, {
            stage: "docker-runtime", changed: true, restarted: true, skipped: false, daemonJson: h.paths.daemonJson, backup: null,
            cdi: true, cdiSpec: path.join(h.paths.cdiSpecDir, "nvidia.yaml"), cdiSpecChanged: true,
            owner: INPUTS.GM_OWNER, registered: true, users: [INPUTS.GM_OWNER],
        });
        assert.deepEqual(JSON.parse(h.readDaemonJson() ?? "null"), {
            features: { cdi: true }, runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } },
        });
        assert.equal(h.sim.calls("nvidia-ctk", "runtime", "configure", "--runtime=docker").filter((c) => c.args.includes("--cdi.enabled")).length, 1);
        assert.equal(h.sim.calls("nvidia-ctk", "cdi", "generate").length, 1);
        assert.equal(h.stubDockerPids().length, 2, "one restart");
        const check = await h.run("docker-gpu-check.sh", CDI);
        assert.equal(check.code, 0, check.stderr);
        const run = h.sim.calls("docker", "run")[1].args;
        assert.deepEqual(run.slice(4, 6), ["--device", "nvidia.com/gpu=all"], "as minikube v1.38.1 starts its node for --gpus nvidia.com");

        // Re-run: nothing generated, nothing restarted.
        h.sim.resetJournal();
        const again = summaryOf(await h.run("configure-docker-runtime.sh", CDI));
        assert.deepEqual([again.changed, again.restarted, again.cdiSpecChanged], [false, false, false]);
        assert.deepEqual(h.mutatingCalls(), []);

        // Destroy: the spec we wrote goes, daemon.json goes (there was none), one restart.
        const down = summaryOf(await h.run("restore-docker-runtime.sh", { ...CDI, PULUMI_COMMAND_STDOUT: JSON.stringify(up) }));
        assert.deepEqual([down.restored, down.restarted, down.cdiSpecRemoved], [true, true, true]);
        assert.ok(!fs.existsSync(path.join(h.paths.cdiSpecDir, "nvidia.yaml")));
        assert.equal(h.readDaemonJson(), null);
    });

    it("a spec that already defines nvidia.com/gpu=all (e.g. from nvidia-cdi-refresh) is used as it is and never removed", { skip: ctk.missing ?? false }, async () => {
        const h = host({ toolkitInstalled: true, nvidiaCtk: ctk.path });
        fs.mkdirSync(h.paths.cdiSpecDir, { recursive: true });
        const theirs = path.join(h.paths.cdiSpecDir, "nvidia.yaml");
        const spawn = await import("node:child_process");
        fs.writeFileSync(theirs, spawn.execFileSync(path.join(h.sim.bin, "nvidia-ctk"), ["cdi", "generate"], { env: h.sim.env() }).toString() + "# written by nvidia-cdi-refresh, not by gpu-minikube\n");
        const bytes = fs.readFileSync(theirs, "utf8");
        const up = summaryOf(await h.run("configure-docker-runtime.sh", CDI));
        assert.equal(up.cdiSpecChanged, false);
        const down = summaryOf(await h.run("restore-docker-runtime.sh", { ...CDI, PULUMI_COMMAND_STDOUT: JSON.stringify(up) }));
        assert.equal(down.cdiSpecRemoved, false);
        assert.equal(fs.readFileSync(theirs, "utf8"), bytes);
    });

    it("Docker older than 25: the runtime step refuses before touching anything", async () => {
        const h = host({ toolkitInstalled: true, docker: { version: "24.0.7" } });
        const run = await h.run("configure-docker-runtime.sh", CDI);
        assertFailed(run, "docker-runtime", /nvidia\.com \(CDI\) needs Docker Engine 25 or newer \(found: Docker 24\.0\.7\)/);
        assert.equal(h.readDaemonJson(), null);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("the GPU check names a missing spec: Docker's 'unresolvable CDI devices' gets the cdi generate fix", async () => {
        const h = readyHost({ daemonJson: '{"features":{"cdi":true},"runtimes":{"nvidia":{"args":[],"path":"nvidia-container-runtime"}}}' });
        const run = await h.run("docker-gpu-check.sh", CDI);
        assertFailed(run, "docker-gpu-check", /\(found: exit 125: docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia\.com\/gpu=all\)\. Fix: .*nvidia-ctk cdi generate --output=\/etc\/cdi\/nvidia\.yaml/);
    });

    it("CDI on but \"cdi-spec-dirs\" leaves out the spec's dir: preflight blocks and the runtime step refuses, before any change", async () => {
        const daemonJson = '{"features":{"cdi":true},"cdi-spec-dirs":["/opt/cdi"],"runtimes":{"nvidia":{"args":[],"path":"nvidia-container-runtime"}}}';
        const h = readyHost({ daemonJson });
        const dirs = /CDISpecDirs=\["\/opt\/cdi"\]/;
        const fix = /Fix: add "[^"]*\/etc\/cdi" to "cdi-spec-dirs" in Docker's daemon\.json/;
        const pre = await h.run("preflight.sh", CDI);
        assertFailed(pre, "preflight", /Docker does not read CDI specs from .*\/etc\/cdi, where the NVIDIA spec is written/);
        assert.match(pre.stderr, dirs);
        assert.match(pre.stderr, fix);
        h.sim.resetJournal();
        const run = await h.run("configure-docker-runtime.sh", CDI);
        assertFailed(run, "docker-runtime", /Docker does not read CDI specs from .*\/etc\/cdi/);
        assert.match(run.stderr, dirs);
        assert.equal(h.readDaemonJson(), daemonJson);
        assert.deepEqual(h.mutatingCalls(), []);
        // With the default dirs (the setting removed), the same host is ready.
        h.writeDaemonJson('{"features":{"cdi":true},"runtimes":{"nvidia":{"args":[],"path":"nvidia-container-runtime"}}}');
        h.restartStubDocker();
        const ok = await h.run("preflight.sh", CDI);
        assert.equal(ok.code, 0, ok.stderr);
        assert.equal(summaryOf(ok).cdiEnabled, true);
    });
});

describe("configure-docker-runtime.sh (stub Docker)", () => {
    it("configureDocker false: skipped, nothing touched, a warning when the runtime is missing", async () => {
        const h = host({ toolkitInstalled: true });
        const run = await h.run("configure-docker-runtime.sh", { ...INPUTS, GM_CONFIGURE_DOCKER: "false" });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).skipped, true);
        assert.match(run.stderr, /warning: configureDocker is false and Docker lists no nvidia runtime/);
        assert.deepEqual(h.mutatingCalls(), []);
        assert.equal(h.readDaemonJson(), null);
    });

    it("the host-wide record has its own directory: a user's GM_STATE_DIR (the cluster scripts' notes) never moves it",
        { skip: ensureNvidiaCtk().missing ?? false }, async () => {
        const h = host({ toolkitInstalled: true, nvidiaCtk: ensureNvidiaCtk().path });
        const notes = path.join(h.sim.home, ".gpu-minikube");
        const run = await h.run("configure-docker-runtime.sh", { ...INPUTS, GM_STATE_DIR: notes });
        assert.equal(run.code, 0, run.stderr);
        assert.ok(h.record(), "recorded in the host state dir");
        assert.ok(!fs.existsSync(path.join(notes, "docker-runtime")), "nothing of the host's record in the per-user notes dir");
    });

    it("already configured: no change, no restart", async () => {
        const h = readyHost();
        const run = await h.run("configure-docker-runtime.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "docker-runtime", changed: false, restarted: false, skipped: false, daemonJson: h.paths.daemonJson, backup: null,
            cdi: false, cdiSpec: null, cdiSpecChanged: false, owner: "gpu-minikube.dev.0a1b2c3d", registered: false, users: [],
        });
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("Docker Desktop without the runtime: error with the UI steps; /etc/docker/daemon.json never touched", async () => {
        const h = host({ toolkitInstalled: true, docker: { os: "Docker Desktop" } });
        const run = await h.run("configure-docker-runtime.sh", INPUTS);
        assertFailed(run, "docker-runtime", /Docker Desktop lists no nvidia runtime .*Settings → Docker Engine/);
        assert.equal(h.readDaemonJson(), null);
        assert.deepEqual(h.mutatingCalls(), []);
        assert.equal(h.record(), null);
    });

    it("toolkit missing: error pointing at installToolkit", async () => {
        const h = host();
        const run = await h.run("configure-docker-runtime.sh", INPUTS);
        assertFailed(run, "docker-runtime", /nvidia-ctk not found.*installToolkit: true/);
    });

    it("sudo that needs a password: error before anything is written", async () => {
        const h = host({ toolkitInstalled: true, daemonJson: '{"log-driver": "local"}\n' });
        const run = await h.run("configure-docker-runtime.sh", { ...INPUTS, SIM_UID: "1000", SIM_SUDO: "password" });
        assertFailed(run, "docker-runtime", /root is needed for configuring Docker's nvidia runtime .*sudo asks for a password/);
        assert.equal(h.readDaemonJson(), '{"log-driver": "local"}\n');
        assert.equal(h.record(), null);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("Docker not running: error with how to start it", async () => {
        const h = host({ toolkitInstalled: true, docker: { mode: "down" } });
        const run = await h.run("configure-docker-runtime.sh", INPUTS);
        assertFailed(run, "docker-runtime", /Docker daemon not reachable.*sudo systemctl start docker/);
    });

    it("rejects a timeout that is not a whole number of seconds", async () => {
        const h = readyHost();
        const run = await h.run("configure-docker-runtime.sh", { ...INPUTS, GM_TIMEOUT_SECONDS: "5s" });
        assertFailed(run, "docker-runtime", /input GM_TIMEOUT_SECONDS must be an integer from 1 to 3600/);
    });
});

describe("restore-docker-runtime.sh (stub Docker)", () => {
    /** Writes a record as configure-docker-runtime.sh leaves it. */
    function record(h: HostPrepHost, before: "present" | "absent", written: string, original?: string): void {
        fs.mkdirSync(h.paths.recordDir, { recursive: true });
        const sha = (s: string) => createHash("sha256").update(s).digest("hex");
        fs.writeFileSync(path.join(h.paths.recordDir, "target"), `${h.paths.daemonJson}\n`);
        fs.writeFileSync(path.join(h.paths.recordDir, "before"), `${before}\n`);
        fs.writeFileSync(path.join(h.paths.recordDir, "written.sha256"), `${sha(written)}\n`);
        if (original !== undefined) fs.writeFileSync(path.join(h.paths.recordDir, "daemon.json.orig"), original);
    }

    it("nothing recorded: no-op, no restart", async () => {
        const h = readyHost();
        const run = await h.run("restore-docker-runtime.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "docker-runtime-restore", restored: false, restarted: false, cdiSpecRemoved: false, users: [],
            reason: "nothing recorded: daemon.json was not changed by gpu-minikube",
        });
        assert.equal(h.readDaemonJson(), NVIDIA_RUNTIME_JSON);
        assert.deepEqual(h.mutatingCalls(), []);
    });

    it("daemon.json deleted since configure: warning, nothing recreated, no restart, backup kept", async () => {
        const h = readyHost();
        record(h, "present", NVIDIA_RUNTIME_JSON, '{"debug": true}\n');
        h.writeDaemonJson(null);
        const run = await h.run("restore-docker-runtime.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.restored, false);
        assert.match(String(s.reason), /was deleted after gpu-minikube configured it; left as it is; its content before gpu-minikube is at .*docker-runtime\.kept-\d{8}T\d{6}\/daemon\.json\.orig/);
        assert.equal(h.readDaemonJson(), null);
        assert.deepEqual(h.mutatingCalls(), []);
        const kept = fs.readdirSync(h.paths.stateDir).filter((d) => d.startsWith("docker-runtime.kept-"));
        assert.equal(fs.readFileSync(path.join(h.paths.stateDir, kept[0], "daemon.json.orig"), "utf8"), '{"debug": true}\n');
    });

    it("a destroy that restored the file but failed to restart: the re-run restarts once and finishes", async () => {
        const h = host({ toolkitInstalled: true, daemonJson: '{"debug": true}\n' });
        record(h, "present", NVIDIA_RUNTIME_JSON, '{"debug": true}\n');
        const run = await h.run("restore-docker-runtime.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).restarted, true);
        assert.equal(h.sim.calls("systemctl", "restart", "docker").length, 1);
        assert.equal(h.record(), null);
        assert.equal(h.readDaemonJson(), '{"debug": true}\n');
    });

    it("a damaged record: error, nothing touched", async () => {
        const h = readyHost();
        record(h, "present", NVIDIA_RUNTIME_JSON, "{}");
        fs.writeFileSync(path.join(h.paths.recordDir, "written.sha256"), "not-a-sha\n");
        const run = await h.run("restore-docker-runtime.sh", INPUTS);
        assertFailed(run, "docker-runtime-restore", /record in .* is damaged/);
        assert.equal(h.readDaemonJson(), NVIDIA_RUNTIME_JSON);
    });
});

describe("docker-gpu-check.sh (stub Docker)", () => {
    it("passes on a ready host; the log is the container's stdout and parses to the H200", async () => {
        const h = readyHost();
        const run = await h.run("docker-gpu-check.sh", INPUTS);
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.stage, "docker-gpu-check");
        assert.equal(s.exitCode, 0);
        assert.equal(s.image, IMAGE);
        const report = parseNvidiaSmi(String(s.log));
        assert.equal(report.driverVersion, "580.159.04");
        assert.equal(report.gpus[0].uuid, H200_UUID);
        const call = h.sim.calls("docker", "run")[0].args;
        // As minikube v1.38.1 starts its node for --gpus all (pkg/drivers/kic/oci/oci.go).
        assert.deepEqual(call.slice(0, 9), ["run", "--rm", "--name", call[3], "--gpus", "all", "--env", "NVIDIA_DRIVER_CAPABILITIES=all", "--network=none"]);
        assert.equal(call[9], IMAGE);
    });

    it("passes on an R610 host, whose nvidia-smi says 'KMD Version' instead of 'Driver Version'", async () => {
        const h = readyHost();
        const run = await h.run("docker-gpu-check.sh", { ...INPUTS, ...R610 });
        assert.equal(run.code, 0, run.stderr);
        const log = String(summaryOf(run).log);
        assert.match(log, /KMD Version: 610\.43\.02/);
        assert.doesNotMatch(log, /Driver Version/);
        const report = parseNvidiaSmi(log);
        assert.equal(report.driverVersion, "610.43.02");
        assert.equal(report.gpus[0].uuid, R610_UUID);
        assert.match(run.stderr, /saw 1 GPU\(s\)/);
    });

    it("output with neither 'Driver Version' nor 'KMD Version' still fails as 'no driver'", async () => {
        const h = readyHost();
        // The container exits 0 having printed nothing (an image whose nvidia-smi is not the driver's).
        h.sim.fault("docker", { match: "run", exitCode: 0 });
        const run = await h.run("docker-gpu-check.sh", INPUTS);
        assertFailed(run, "docker-gpu-check", /nvidia-smi showed no driver \(found: no 'Driver Version' or 'KMD Version' line in its output\)/);
    });

    it("Docker without the toolkit: Docker's own error becomes 'toolkit/runtime not configured' with the fix", async () => {
        const h = host();
        const run = await h.run("docker-gpu-check.sh", INPUTS);
        assertFailed(run, "docker-gpu-check", /cannot give containers a GPU.*\(found: docker: Error response from daemon: could not select device driver "" with capabilities: \[\[gpu\]\]\)\. Fix: .*nvidia-ctk runtime configure --runtime=docker/);
    });

    it("other failures: error with the container's last lines", async () => {
        const h = readyHost();
        h.sim.fault("docker", { match: "run", exitCode: 125, stderr: "Unable to find image 'nvidia/cuda:12.5.0-base-ubuntu22.04' locally\\ndocker: Error response from daemon: pull access denied for nvidia/cuda, repository does not exist." });
        const run = await h.run("docker-gpu-check.sh", INPUTS);
        assertFailed(run, "docker-gpu-check", /the GPU check container failed \(found: exit 125: docker: Error response from daemon: pull access denied.*Fix: check the image name/);
        assert.match(run.stderr, / {2}\| Unable to find image/);
    });

    it("a container that hangs is stopped at the deadline and removed", async () => {
        const h = readyHost();
        h.sim.fault("docker", { match: "run", hangSeconds: 30 });
        const run = await h.run("docker-gpu-check.sh", { ...INPUTS, GM_TIMEOUT_SECONDS: "1" });
        assertFailed(run, "docker-gpu-check", /did not finish \(found: no result after 1s/);
        assert.ok(run.durationMs < 1000 + 4000, `took ${run.durationMs} ms for a 1 s deadline`);
        assert.equal(h.sim.calls("docker", "gpu-minikube-gpu-check-").filter((e) => e.args[0] === "rm" && e.args[1] === "-f").length, 1);
    });

    it("refuses an image reference that could be an option or carry shell syntax", async () => {
        const h = readyHost();
        for (const bad of ["--privileged", "img; reboot", "img $(id)", ""]) {
            const run = await h.run("docker-gpu-check.sh", { ...INPUTS, GM_IMAGE: bad });
            assertFailed(run, "docker-gpu-check", /input GM_IMAGE is not an image reference/);
        }
        assert.deepEqual(h.sim.calls("docker"), []);
    });
});
