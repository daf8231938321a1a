import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseNvidiaSmi } from "../../components/nvidiaSmi";
import { DRIVER_VERSION, HostPrepHost, LIBCUDA_CONTENT } from "../harness/hostPrepHost";
import { ensureNvidiaCtk } from "../harness/nvidiaCtk";
import { DockerEngine, DockerEngineOptions, PrivateDocker, privateDockerMissing, TEST_IMAGE } from "../harness/privateDocker";
import { DOCKER_VERSION, toolPath, toolsMissing } from "../harness/realTools";
import { ScriptRun, summaryOf } from "../harness/simHost";

/**
 * `minikube.gpus: nvidia.com` (CDI) host prep against a REAL CDI-capable Docker: dockerd and the CLI
 * v28.5.2, built from their Go modules by test/tools/build.sh (Debian's docker.io is 20.10, before CDI;
 * hostPrep.docker.test.ts covers that one), run as a private daemon (own socket, data-root, config
 * file, mount namespace; its CDI spec dir is the simulated host's /etc/cdi), with the REAL nvidia-ctk
 * editing daemon.json. Real here: `nvidia-ctk runtime configure --cdi.enabled`, Docker reading
 * "features": {"cdi": …}, its CDI cache (spec dirs, auto-refresh on spec changes), the CDI device
 * injection into the container (env, device nodes, bind mounts, createContainer hooks run by runc) and
 * Docker's own error texts. Simulated: the GPU — `nvidia-ctk cdi generate` needs NVML, which is absent
 * (the real one fails with "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND"), so the spec is the
 * nvidia-ctk stand-in's, laid out as nvidia-ctk v1.20.0 writes it, with /dev/null for the GPU's nodes.
 * One host and one daemon for the whole flow: the daemon starts once and restarts only when the scripts
 * restart it. Skipped with the reason where the built Docker, root, busybox or nvidia-ctk are missing —
 * except under CI, where that fails.
 */

const DOCKER: DockerEngineOptions = { dockerd: toolPath("docker", "dockerd"), cli: toolPath("docker", "docker") };
const missing = toolsMissing("docker") ?? privateDockerMissing(DOCKER) ?? ensureNvidiaCtk().missing;
const nvidiaCtk = missing ? undefined : ensureNvidiaCtk().path;

if (missing && process.env.CI) {
    it("CI runs the CDI host-prep tests on the built Docker", () => {
        throw new Error(`the CDI host-prep tests on Docker ${DOCKER_VERSION} cannot run: ${missing}. .ci/run must build Docker (bash test/tools/build.sh docker) and nvidia-ctk and install busybox-static; CI must not skip them.`);
    });
}

const INPUTS = {
    GM_MINIKUBE_GPUS: "nvidia.com",
    GM_INSTALL_TOOLKIT: "true",
    GM_CONFIGURE_DOCKER: "true",
    GM_TIMEOUT_SECONDS: "60",
    GM_IMAGE: TEST_IMAGE,
    GM_OWNER: "gpu-minikube.cdi.0a1b2c3d",
};

/**
 * The user's daemon.json: CDI explicitly off (Docker 28.2+ has it on by default; `"cdi": false` is how
 * a user turns it off), plus settings Docker must keep honouring.
 */
const USER_DAEMON_JSON = '{\n  "log-driver": "local",\n  "features": {"cdi": false}\n}';

/** What the CDI spec's edits put into a container, read from inside one. */
const PROBE = [
    'echo "env NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES NVIDIA_CTK_LIBCUDA_DIR=$NVIDIA_CTK_LIBCUDA_DIR"',
    "ls -l /dev/nvidia0 /dev/nvidiactl",
    `cat /usr/lib/x86_64-linux-gnu/libcuda.so.${DRIVER_VERSION}`,
].join("; ");

let engine: DockerEngine | undefined;
let h: HostPrepHost | undefined;
let d: PrivateDocker | undefined;

describe(`minikube.gpus nvidia.com (CDI) on a real Docker ${DOCKER_VERSION}`, { skip: missing ?? false }, () => {
    before(async () => {
        engine = new DockerEngine(DOCKER);
        h = HostPrepHost.create({ nvidiaCtk, toolkitInstalled: true, daemonJson: USER_DAEMON_JSON });
        d = await engine.start(h.sim, h.paths.daemonJson);
    });
    after(async () => {
        d?.stop();
        h?.cleanup();
        await engine?.shutdown();
    });

    const host = () => h as HostPrepHost;
    const daemon = () => d as PrivateDocker;

    function ok(run: ScriptRun): Record<string, unknown> {
        assert.equal(run.code, 0, `exit ${run.code}; stderr:\n${run.stderr}`);
        return summaryOf(run);
    }

    /** `docker info`'s CDI spec dirs (null: CDI off). */
    const cdiDirs = () => JSON.parse(daemon().info("{{json .CDISpecDirs}}")) as string[] | null;
    const spec = () => path.join(host().paths.cdiSpecDir, "nvidia.yaml");
    const cdiHookCalls = () => (fs.existsSync(path.join(host().sim.state, "hook-calls"))
        ? fs.readFileSync(path.join(host().sim.state, "hook-calls"), "utf8").split("\n").filter((l) => l.startsWith("cdi ")) : []);
    /**
     * Runs `docker ARGS` until its stderr matches WANT or 20 s pass: Docker's CDI cache refreshes on the
     * spec dir's change events in its own goroutine, so the first run after a change may still see the
     * old specs. Returns the last run.
     */
    async function dockerUntil(args: string[], want: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
        const deadline = Date.now() + 20_000;
        for (;;) {
            const r = daemon().docker(args);
            if (want.test(r.stderr) || Date.now() > deadline) return r;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    }
    /** The last line of a failed script's stderr: its ERROR line. */
    const errorLine = (run: ScriptRun) => run.stderr.trim().split("\n").pop() ?? "";

    it("the daemon is the built CDI-capable Docker, with CDI off as the user's daemon.json says", () => {
        assert.equal(daemon().info("{{.ServerVersion}}"), DOCKER_VERSION.slice(1));
        assert.match(daemon().docker(["version", "--format", "{{.Client.Version}}"]).stdout.trim(), /^28\.5\.2$/);
        assert.equal(cdiDirs()?.length ?? 0, 0);
        assert.ok(!daemon().runtimes().includes("nvidia"));
    });

    it("CDI off: Docker's real refusal of --device nvidia.com/gpu=all, and the check maps it to the CDI fix", async () => {
        const raw = daemon().docker(["run", "--rm", "--network=none", "--device", "nvidia.com/gpu=all", TEST_IMAGE, "true"]);
        assert.equal(raw.code, 125);
        assert.match(raw.stderr, /^docker: Error response from daemon: could not select device driver "cdi" with capabilities: \[\]/m);
        const run = await host().run("docker-gpu-check.sh", INPUTS);
        assert.equal(run.code, 1);
        assert.match(errorLine(run), /^\[docker-gpu-check\] ERROR: Docker does not resolve CDI devices, which minikube\.gpus nvidia\.com needs \(found: docker: Error response from daemon: could not select device driver "cdi" with capabilities: \[\]\)\. Fix: .*nvidia-ctk runtime configure --runtime=docker --cdi\.enabled/);
        assert.doesNotMatch(errorLine(run), /Run 'docker run --help'/);
    });

    it("preflight: Docker 28 passes the version gate and reports CDI off; the runtime step will change Docker", async () => {
        const pre = ok(await host().run("preflight.sh", INPUTS));
        assert.equal(pre.dockerVersion, "28.5.2");
        assert.equal(pre.cdiEnabled, false);
        assert.equal(pre.nvidiaRuntime, false);
    });

    it("configure: the real nvidia-ctk adds the runtime and features.cdi, the spec is written, one restart turns CDI on", async () => {
        const pidsBefore = daemon().pids().length;
        const s = ok(await host().run("configure-docker-runtime.sh", INPUTS));
        assert.deepEqual(s, {
            stage: "docker-runtime", changed: true, restarted: true, skipped: false, daemonJson: host().paths.daemonJson,
            backup: path.join(host().paths.recordDir, "daemon.json.orig"), cdi: true, cdiSpec: spec(), cdiSpecChanged: true,
            owner: INPUTS.GM_OWNER, registered: true, users: [INPUTS.GM_OWNER],
        });
        assert.deepEqual(host().sim.calls("nvidia-ctk", "runtime", "configure").map((c) => c.args.filter((a) => !a.startsWith("--config="))),
            [["runtime", "configure", "--runtime=docker", "--cdi.enabled"]]);
        // nvidia-ctk v1.20.0 wrote these keys (the user's kept, "cdi" switched on); Docker read them.
        assert.deepEqual(JSON.parse(host().readDaemonJson() ?? "null"), {
            "log-driver": "local",
            features: { cdi: true },
            runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } },
        });
        assert.equal(daemon().pids().length, pidsBefore + 1, "Docker restarted exactly once");
        assert.deepEqual(cdiDirs(), [host().paths.cdiSpecDir]);
        assert.ok(daemon().runtimes().includes("nvidia"));
        assert.equal(daemon().info("{{.LoggingDriver}}"), "local");
        // The spec the real nvidia-ctk lists (the scripts' own usability test).
        assert.ok(fs.existsSync(spec()));
        assert.ok(host().sim.calls("nvidia-ctk", "cdi", "list").length > 0);
        // The daemon's own view: `docker info` lists the CDI devices it resolved from the spec dir.
        assert.match(daemon().info("{{json .DiscoveredDevices}}"), /"ID":"nvidia\.com\/gpu=all"/);
    });

    it("the GPU check passes through CDI, and the real daemon injected the spec's env, device nodes, mount and hooks", async () => {
        const before = cdiHookCalls().length;
        const check = ok(await host().run("docker-gpu-check.sh", INPUTS));
        assert.equal(check.exitCode, 0);
        assert.equal(parseNvidiaSmi(String(check.log)).gpus.length, 1);
        // runc ran the spec's createContainer hooks (with the spec's env) for the check's container.
        assert.deepEqual(cdiHookCalls().slice(before), [
            "cdi create-symlinks --link libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so NVIDIA_CTK_DEBUG=false",
            "cdi update-ldcache --folder /usr/lib/x86_64-linux-gnu NVIDIA_CTK_DEBUG=false",
        ]);
        const r = daemon().docker(["run", "--rm", "--network=none", "--device", "nvidia.com/gpu=all", TEST_IMAGE, "sh", "-c", PROBE]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^env NVIDIA_VISIBLE_DEVICES=void NVIDIA_CTK_LIBCUDA_DIR=\/usr\/lib\/x86_64-linux-gnu$/m);
        // The spec's device nodes (host /dev/null: char 1,3) exist in the container under the GPU's names.
        assert.match(r.stdout, /^c.* 1, +3 .*\/dev\/nvidia0$/m);
        assert.match(r.stdout, /^c.* 1, +3 .*\/dev\/nvidiactl$/m);
        // The driver library bind mount from the host.
        assert.match(r.stdout, new RegExp(`^${LIBCUDA_CONTENT.replace(/[.]/g, "\\.")}$`, "m"));
        // Without the device, none of it: the edits come from CDI, not from the image.
        const plain = daemon().docker(["run", "--rm", "--network=none", TEST_IMAGE, "sh", "-c", PROBE]);
        assert.match(plain.stdout, /^env NVIDIA_VISIBLE_DEVICES= NVIDIA_CTK_LIBCUDA_DIR=$/m);
        assert.doesNotMatch(plain.stdout, /nvidia0|simulated libcuda/);
    });

    it("a second run changes nothing: no nvidia-ctk edit, no new spec, no restart", async () => {
        const pids = daemon().pids().length;
        const bytes = [host().readDaemonJson(), fs.readFileSync(spec(), "utf8")];
        host().sim.resetJournal();
        const s = ok(await host().run("configure-docker-runtime.sh", INPUTS));
        assert.deepEqual([s.changed, s.restarted, s.cdiSpecChanged], [false, false, false]);
        assert.deepEqual(host().mutatingCalls(), []);
        assert.equal(daemon().pids().length, pids);
        assert.deepEqual([host().readDaemonJson(), fs.readFileSync(spec(), "utf8")], bytes);
    });

    it("spec gone: Docker's real 'unresolvable CDI devices' error gets the spec fix; the next up rewrites it and Docker picks it up without a restart", async () => {
        const aside = path.join(host().sim.state, "nvidia.yaml.aside");
        fs.renameSync(spec(), aside);
        try {
            await specGone(aside);
        } finally {
            // Whatever failed above, the destroy test below still finds the spec the flow wrote.
            if (fs.existsSync(spec())) fs.rmSync(aside, { force: true });
            else fs.renameSync(aside, spec());
        }
    });

    async function specGone(aside: string): Promise<void> {
        assert.ok(fs.existsSync(aside));
        // Docker's CDI cache refreshes on the spec dir's change events (tags.cncf.io/container-device-interface
        // v1.0.1 pkg/cdi/cache.go watch), no restart needed; the GPU check runs once it has.
        const raw = await dockerUntil(["run", "--rm", "--network=none", "--device", "nvidia.com/gpu=all", TEST_IMAGE, "true"], /unresolvable/);
        assert.equal(raw.code, 125);
        assert.match(raw.stderr, /^docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia\.com\/gpu=all$/m);
        const run = await host().run("docker-gpu-check.sh", INPUTS);
        assert.equal(run.code, 1);
        assert.match(errorLine(run), /^\[docker-gpu-check\] ERROR: the GPU check container failed \(found: exit 125: docker: Error response from daemon: CDI device injection failed: unresolvable CDI devices nvidia\.com\/gpu=all\)\. Fix: Docker has CDI on but no spec defines nvidia\.com\/gpu=all: .*nvidia-ctk cdi generate --output=\/etc\/cdi\/nvidia\.yaml/);

        // pulumi up again: the runtime is there and CDI on, so only the spec is written; no restart.
        const pids = daemon().pids().length;
        const s = ok(await host().run("configure-docker-runtime.sh", INPUTS));
        assert.deepEqual([s.changed, s.restarted, s.cdiSpecChanged], [false, false, true]);
        assert.equal(daemon().pids().length, pids);
        ok(await host().run("docker-gpu-check.sh", INPUTS));
    }

    it("destroy: daemon.json back byte-for-byte (CDI off again), the spec removed, one restart", async () => {
        const pids = daemon().pids().length;
        const r = ok(await host().run("restore-docker-runtime.sh", INPUTS));
        assert.deepEqual([r.restored, r.restarted, r.cdiSpecRemoved, r.users], [true, true, true, []]);
        assert.equal(host().readDaemonJson(), USER_DAEMON_JSON);
        assert.ok(!fs.existsSync(spec()));
        assert.equal(daemon().pids().length, pids + 1);
        assert.equal(cdiDirs()?.length ?? 0, 0);
        assert.ok(!daemon().runtimes().includes("nvidia"));
        const raw = daemon().docker(["run", "--rm", "--network=none", "--device", "nvidia.com/gpu=all", TEST_IMAGE, "true"]);
        assert.match(raw.stderr, /could not select device driver "cdi"/);
    });
});
