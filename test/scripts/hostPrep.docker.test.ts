import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseNvidiaSmi } from "../../components/nvidiaSmi";
import { HostPrepHost, HostPrepHostOptions } from "../harness/hostPrepHost";
import { ensureNvidiaCtk } from "../harness/nvidiaCtk";
import { DockerEngine, PrivateDocker, privateDockerMissing, TEST_IMAGE } from "../harness/privateDocker";
import { ScriptRun, summaryOf } from "../harness/simHost";

/**
 * Host prep against a REAL Docker daemon (a private dockerd: own socket, data-root, config file, no
 * bridge) and the REAL nvidia-ctk built from its Go module; only the GPU is simulated (nvidia-smi in
 * the test image prints a recorded H200 output, the toolkit's hook and runtime are stand-ins).
 * Skipped with the reason where dockerd, root, busybox or Go are missing — except under CI, where
 * that fails.
 */

const missing = privateDockerMissing() ?? ensureNvidiaCtk().missing;
const nvidiaCtk = missing ? undefined : ensureNvidiaCtk().path;

if (missing && process.env.CI) {
    it("CI runs the real-daemon host-prep tests", () => {
        throw new Error(`the real-daemon host-prep tests cannot run: ${missing}. .ci/run must install docker.io and busybox-static and build nvidia-ctk; CI must not skip them.`);
    });
}

const INPUTS = {
    GM_MINIKUBE_GPUS: "all",
    GM_INSTALL_TOOLKIT: "true",
    GM_CONFIGURE_DOCKER: "true",
    GM_TIMEOUT_SECONDS: "30",
    GM_IMAGE: TEST_IMAGE,
    GM_OWNER: "gpu-minikube.dev.0a1b2c3d",
};
const H200 = {
    index: 0,
    name: "NVIDIA H200",
    uuid: "GPU-6121f79f-64c1-4fce-d205-887843b4899e",
    memoryTotalMiB: 143771,
    busId: "00000000:00:06.0",
};
const GPU_ERROR = 'could not select device driver "" with capabilities: [[gpu]]';

/** A user's hand-written daemon.json: odd spacing, no trailing newline, keys Docker must keep honouring. */
const USER_DAEMON_JSON = '{\n  "log-driver":   "local",\n  "registry-mirrors": ["https://mirror.gcr.io"],\n  "log-opts": {"max-size": "10m"}\n}';

let engine: DockerEngine | undefined;

describe("host prep on a real Docker daemon", { skip: missing ?? false }, () => {
    before(() => {
        engine = new DockerEngine();
    });
    after(async () => {
        await engine?.shutdown();
    });

    /** A fresh simulated host with its own private dockerd; stopped and removed after FN, even when FN fails. */
    async function onHost(options: HostPrepHostOptions, fn: (h: HostPrepHost, d: PrivateDocker) => Promise<void>): Promise<void> {
        const h = HostPrepHost.create({ nvidiaCtk, ...options });
        let d: PrivateDocker | undefined;
        try {
            d = await (engine as DockerEngine).start(h.sim, h.paths.daemonJson);
            await fn(h, d);
        } finally {
            d?.stop();
            h.cleanup();
        }
    }

    function ok(run: ScriptRun): Record<string, unknown> {
        assert.equal(run.code, 0, `exit ${run.code}; stderr:\n${run.stderr}`);
        return summaryOf(run);
    }

    function restarts(h: HostPrepHost): number {
        return h.sim.journal().filter((e) => (e.cmd === "systemctl" || e.cmd === "service") && e.args.some((a) => a === "restart")).length;
    }

    it("fresh host → toolkit, real nvidia-ctk, one restart, GPU container; second run changes nothing; destroy undoes it", async () => {
        await onHost({}, async (h, d) => {
            // Before: Docker's own answer to --gpus without the toolkit.
            assert.ok(!d.runtimes().includes("nvidia"));
            const before = d.docker(["run", "--rm", "--network=none", "--gpus", "all", TEST_IMAGE, "nvidia-smi"]);
            assert.notEqual(before.code, 0);
            assert.ok(before.stderr.includes(GPU_ERROR), before.stderr);
            const firstPid = d.pid();

            // up
            const pre = ok(await h.run("preflight.sh", INPUTS));
            assert.equal(pre.dockerVersion, d.info("{{.ServerVersion}}"));
            assert.equal(pre.toolkitInstalled, false);
            assert.equal(pre.nvidiaRuntime, false);
            const tk = ok(await h.run("install-toolkit.sh", INPUTS));
            assert.deepEqual(tk, { stage: "toolkit", changed: true, skipped: false, version: "1.20.0", installedAt: tk.installedAt });
            const withInstall = { ...INPUTS, GM_TOOLKIT_INSTALLED_AT: String(tk.installedAt) };
            assert.deepEqual(ok(await h.run("configure-docker-runtime.sh", withInstall)), {
                stage: "docker-runtime", changed: true, restarted: true, skipped: false, daemonJson: h.paths.daemonJson, backup: null,
                cdi: false, cdiSpec: null, cdiSpecChanged: false, owner: INPUTS.GM_OWNER, registered: true, users: [INPUTS.GM_OWNER],
            });
            // The real nvidia-ctk wrote the file; Docker restarted exactly once and now lists the runtime.
            assert.deepEqual(JSON.parse(h.readDaemonJson() ?? "null"), { runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } } });
            assert.equal(h.sim.calls("nvidia-ctk", "runtime", "configure", "--runtime=docker").length, 1);
            assert.equal(restarts(h), 1);
            assert.equal(d.pids().length, 2, "the daemon's PID changed exactly once");
            assert.notEqual(d.pid(), firstPid);
            assert.ok(d.runtimes().includes("nvidia"));
            assert.deepEqual(h.record(), {
                before: "absent\n",
                target: `${h.paths.daemonJson}\n`,
                "written.sha256": `${createHash("sha256").update(h.readDaemonJson() ?? "").digest("hex")}\n`,
                created: h.record()?.created,
            });

            const check = ok(await h.run("docker-gpu-check.sh", INPUTS));
            assert.equal(check.exitCode, 0);
            assert.equal(check.image, TEST_IMAGE);
            const report = parseNvidiaSmi(String(check.log));
            assert.equal(report.driverVersion, "580.159.04");
            assert.equal(report.cudaVersion, "13.0");
            assert.deepEqual(report.gpus, [H200]);
            // Docker's GPU driver ran the toolkit hook for the container with all GPUs and, as minikube's
            // node container has them, all driver capabilities.
            assert.deepEqual(fs.readFileSync(path.join(h.sim.state, "hook-calls"), "utf8").trim().split("\n"),
                ["prestart NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=all"]);
            // The `nvidia` runtime nvidia-ctk registered works too.
            const viaRuntime = d.docker(["run", "--rm", "--network=none", "--runtime=nvidia", TEST_IMAGE, "nvidia-smi", "-L"]);
            assert.equal(viaRuntime.code, 0, viaRuntime.stderr);
            assert.match(viaRuntime.stdout, /GPU 0: NVIDIA H200 \(UUID: GPU-6121f79f/);
            assert.ok(h.sim.calls("nvidia-container-runtime").length > 0);

            // Second up on the now-ready host: zero mutating calls, same daemon, same bytes.
            const bytes = h.readDaemonJson();
            const pid = d.pid();
            h.sim.resetJournal();
            for (const script of ["preflight.sh", "install-toolkit.sh", "configure-docker-runtime.sh", "docker-gpu-check.sh"]) {
                // The runtime step re-runs with the inputs Pulumi stored (the same install time): no second restart.
                const s = ok(await h.run(script, withInstall));
                if (script === "install-toolkit.sh") assert.deepEqual({ ...s }, { stage: "toolkit", changed: false, skipped: false, version: "1.20.0", installedAt: null });
                if (script === "configure-docker-runtime.sh") assert.deepEqual([s.changed, s.restarted], [false, false]);
            }
            assert.deepEqual(h.mutatingCalls(), []);
            assert.deepEqual(h.sim.calls("nvidia-ctk", "runtime"), []);
            assert.equal(d.pid(), pid);
            assert.equal(d.pids().length, 2);
            assert.equal(h.readDaemonJson(), bytes);

            // destroy: there was no daemon.json before, so ours goes; one restart; nvidia gone.
            h.sim.resetJournal();
            assert.deepEqual(ok(await h.run("restore-docker-runtime.sh", INPUTS)), {
                stage: "docker-runtime-restore", restored: true, restarted: true, cdiSpecRemoved: false, users: [],
                reason: `removed ${h.paths.daemonJson}, which gpu-minikube had created`,
            });
            assert.equal(h.readDaemonJson(), null);
            assert.equal(restarts(h), 1);
            assert.equal(d.pids().length, 3);
            assert.ok(!d.runtimes().includes("nvidia"));
            assert.equal(h.record(), null);
            // A second destroy is a no-op.
            h.sim.resetJournal();
            assert.equal(ok(await h.run("restore-docker-runtime.sh", INPUTS)).restarted, false);
            assert.deepEqual(h.mutatingCalls(), []);
        });
    });

    it("two stacks on one host: destroying either never undoes the change the other relies on; the last one out restores", async () => {
        for (const firstOut of ["a", "b"]) {
            await onHost({ toolkitInstalled: true, daemonJson: USER_DAEMON_JSON }, async (h, d) => {
                const a = { ...INPUTS, GM_OWNER: "gpu-minikube.a.11111111" };
                const b = { ...INPUTS, GM_OWNER: "gpu-minikube.b.22222222" };
                // Stack A changes daemon.json (one restart); stack B finds the runtime and changes nothing.
                const upA = await h.run("configure-docker-runtime.sh", a);
                assert.deepEqual([ok(upA).changed, summaryOf(upA).restarted], [true, true]);
                const upB = await h.run("configure-docker-runtime.sh", b);
                assert.deepEqual([ok(upB).changed, summaryOf(upB).restarted], [false, false]);
                const written = h.readDaemonJson();
                assert.equal(d.pids().length, 2);

                // Each destroy gets its own create's summary, as @pulumi/command passes it.
                const destroy = (who: Record<string, string>, up: ScriptRun) =>
                    h.run("restore-docker-runtime.sh", { ...who, PULUMI_COMMAND_STDOUT: up.stdout });
                const [first, second] = firstOut === "a" ? [[a, upA], [b, upB]] as const : [[b, upB], [a, upA]] as const;
                h.sim.resetJournal();
                const r1 = ok(await destroy(first[0], first[1]));
                assert.deepEqual([r1.restored, r1.restarted], [false, false], `destroying ${firstOut} first`);
                assert.match(String(r1.reason), new RegExp(`still used by ${second[0].GM_OWNER}`));
                assert.equal(h.readDaemonJson(), written, "the other stack's runtime stays");
                assert.equal(d.pids().length, 2, "Docker was not restarted under the other stack's cluster");
                assert.ok(d.runtimes().includes("nvidia"));
                assert.equal(restarts(h), 0);
                // Both stacks had noted that they rely on A's change.
                assert.deepEqual([summaryOf(upB).registered, summaryOf(upB).users], [true, [a.GM_OWNER, b.GM_OWNER]]);

                const r2 = ok(await destroy(second[0], second[1]));
                assert.deepEqual([r2.restored, r2.restarted, r2.users], [true, true, []]);
                assert.equal(h.readDaemonJson(), USER_DAEMON_JSON, "restored byte-for-byte by the last stack out");
                assert.ok(!d.runtimes().includes("nvidia"));
                assert.equal(d.pids().length, 3);
                assert.equal(h.record(), null);
            });
        }
    });

    it("a stack whose runtime step changed nothing and relied on nothing recorded: its destroy is a no-op", async () => {
        await onHost({ toolkitInstalled: true, daemonJson: USER_DAEMON_JSON }, async (h, d) => {
            // The user configured the runtime by hand before gpu-minikube: nothing recorded.
            h.writeDaemonJson(JSON.stringify({ runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } } }));
            d.restart();
            const up = ok(await h.run("configure-docker-runtime.sh", INPUTS));
            assert.equal(up.changed, false);
            // Then another stack's change is recorded (as if its up had run while the file lacked the runtime).
            const other = { ...INPUTS, GM_OWNER: "gpu-minikube.other.33333333" };
            h.writeDaemonJson(USER_DAEMON_JSON);
            d.restart();
            const upOther = await h.run("configure-docker-runtime.sh", other);
            assert.equal(ok(upOther).changed, true);
            const pids = d.pids().length;
            const r = ok(await h.run("restore-docker-runtime.sh", { ...INPUTS, PULUMI_COMMAND_STDOUT: JSON.stringify(up) }));
            assert.deepEqual([r.restored, r.restarted], [false, false]);
            assert.match(String(r.reason), /this stack's runtime step changed nothing/);
            assert.equal(d.pids().length, pids);
            assert.ok(d.runtimes().includes("nvidia"));
            assert.equal(up.registered, false, "it relied on no recorded change when it ran");
        });
    });

    it("toolkit installed by this run while daemon.json already names the runtime: Docker restarts once so --gpus works", async () => {
        const runtimeJson = JSON.stringify({ runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } } });
        await onHost({ daemonJson: runtimeJson }, async (h, d) => {
            // Docker started before the toolkit: it lists the runtime (from daemon.json) but has no GPU driver.
            assert.ok(d.runtimes().includes("nvidia"));
            const tk = ok(await h.run("install-toolkit.sh", INPUTS));
            assert.equal(tk.changed, true);
            const inputs = { ...INPUTS, GM_TOOLKIT_INSTALLED_AT: String(tk.installedAt) };
            const s = ok(await h.run("configure-docker-runtime.sh", inputs));
            assert.deepEqual([s.changed, s.restarted], [false, true]);
            assert.equal(d.pids().length, 2);
            assert.equal(h.readDaemonJson(), runtimeJson, "daemon.json untouched");
            ok(await h.run("docker-gpu-check.sh", INPUTS));
            // A re-run with the same stored inputs does not restart again.
            assert.equal(ok(await h.run("configure-docker-runtime.sh", inputs)).restarted, false);
            assert.equal(d.pids().length, 2);
        });
    });

    it("compute-only driver (no /dev/nvidia-modeset): the check fails as minikube's node would, quoting Docker's error line, with the modprobe fix", async () => {
        await onHost({ toolkitInstalled: true, nvidiaModeset: false }, async (h, d) => {
            ok(await h.run("configure-docker-runtime.sh", INPUTS));
            // Docker's default capabilities pass on such a host (what the old check ran)…
            const plain = d.docker(["run", "--rm", "--network=none", "--gpus", "all", TEST_IMAGE, "nvidia-smi", "-L"]);
            assert.equal(plain.code, 0, plain.stderr);
            // …minikube's NVIDIA_DRIVER_CAPABILITIES=all does not.
            const run = await h.run("docker-gpu-check.sh", INPUTS);
            assert.equal(run.code, 1);
            const error = run.stderr.trim().split("\n").pop() ?? "";
            assert.match(error, /^\[docker-gpu-check\] ERROR: the GPU check container failed \(found: exit 12\d: docker: Error response from daemon: .*hook.*nvidia-container-cli: mount error: stat failed: \/dev\/nvidia-modeset: no such file or directory.*\)\. Fix: .*issues\/20934.*sudo nvidia-modprobe -m.*sudo modprobe nvidia-modeset/);
            assert.doesNotMatch(error, /Run 'docker run --help'/);
            // The fix works: with the node present the same check passes.
            h.setModeset(true);
            ok(await h.run("docker-gpu-check.sh", INPUTS));
        });
    });

    it("driver too old for the image's CUDA: its own error and fix (the toolkit's 'unsatisfied condition: cuda>=12.5')", async () => {
        await onHost({ toolkitInstalled: true }, async (h) => {
            ok(await h.run("configure-docker-runtime.sh", INPUTS));
            h.setDriverCuda("12.2");
            const run = await h.run("docker-gpu-check.sh", INPUTS);
            assert.equal(run.code, 1);
            const error = run.stderr.trim().split("\n").pop() ?? "";
            assert.match(error, /\(found: exit 12\d: docker: Error response from daemon: .*unsatisfied condition: cuda>=12\.5, please update your driver.*\)\. Fix: the NVIDIA driver is too old for the CUDA version .* requires \(cuda>=12\.5\): upgrade the driver.*verification\.image/);
        });
    });

    it("CDI on this Docker (20.10, before CDI): preflight and the runtime step block with the reason, before any change", async () => {
        await onHost({ toolkitInstalled: true, daemonJson: USER_DAEMON_JSON }, async (h, d) => {
            const version = d.info("{{.ServerVersion}}");
            const cdi = { ...INPUTS, GM_MINIKUBE_GPUS: "nvidia.com" };
            const pre = await h.run("preflight.sh", cdi);
            if (/^(2[5-9]|[3-9][0-9])\./.test(version)) return; // a CDI-capable daemon: nothing to block
            assert.equal(pre.code, 1);
            assert.match(pre.stderr, new RegExp(`nvidia\\.com \\(CDI\\) needs Docker Engine 25 or newer \\(found: Docker ${version.replace(/[.+]/g, "\\$&")}\\)`));
            const run = await h.run("configure-docker-runtime.sh", cdi);
            assert.equal(run.code, 1);
            assert.equal(h.readDaemonJson(), USER_DAEMON_JSON);
            assert.equal(d.pids().length, 1);
            // What this Docker says to minikube's CDI flag, and how the GPU check reads it.
            const check = await h.run("docker-gpu-check.sh", cdi);
            assert.equal(check.code, 1);
            // Docker's CLI 28 against this older API takes the CDI name for a device path.
            assert.match(check.stderr, /ERROR: Docker does not resolve CDI devices, which minikube\.gpus nvidia\.com needs \(found: docker: nvidia\.com\/gpu=all is not an absolute path\.\)\. Fix: this Docker does not resolve CDI devices/);
        });
    });

    it("existing daemon.json: the user's settings stay in effect after configure; destroy restores it byte-for-byte", async () => {
        await onHost({ toolkitInstalled: true, daemonJson: USER_DAEMON_JSON }, async (h, d) => {
            const settings = () => [d.info("{{.LoggingDriver}}"), d.info("{{json .RegistryConfig.Mirrors}}")];
            assert.deepEqual(settings(), ["local", '["https://mirror.gcr.io/"]']);

            const s = ok(await h.run("configure-docker-runtime.sh", INPUTS));
            assert.deepEqual([s.changed, s.restarted], [true, true]);
            const backup = path.join(h.paths.recordDir, "daemon.json.orig");
            assert.equal(s.backup, backup);
            assert.equal(fs.readFileSync(backup, "utf8"), USER_DAEMON_JSON);
            const written = JSON.parse(h.readDaemonJson() ?? "null") as Record<string, unknown>;
            assert.deepEqual(written, {
                "log-driver": "local",
                "log-opts": { "max-size": "10m" },
                "registry-mirrors": ["https://mirror.gcr.io"],
                runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } },
            });
            // Read back through the restarted daemon, not just the file.
            assert.deepEqual(settings(), ["local", '["https://mirror.gcr.io/"]']);
            assert.ok(d.runtimes().includes("nvidia"));
            assert.equal(d.pids().length, 2);

            // A re-run reports the same backup and changes nothing.
            assert.equal(ok(await h.run("configure-docker-runtime.sh", INPUTS)).backup, backup);
            assert.equal(d.pids().length, 2);

            h.sim.resetJournal();
            const r = ok(await h.run("restore-docker-runtime.sh", INPUTS));
            assert.deepEqual([r.restored, r.restarted], [true, true]);
            assert.equal(h.readDaemonJson(), USER_DAEMON_JSON, "restored byte-for-byte");
            assert.equal(restarts(h), 1);
            assert.equal(d.pids().length, 3);
            assert.ok(!d.runtimes().includes("nvidia"));
            assert.deepEqual(settings(), ["local", '["https://mirror.gcr.io/"]']);
            assert.equal(h.record(), null);
        });
    });

    it("malformed daemon.json: error, file byte-identical, daemon still running, nothing recorded", async () => {
        await onHost({ toolkitInstalled: true, daemonJson: '{"log-driver": "json-file"}\n' }, async (h, d) => {
            // The user broke the file after Docker started (Docker only reads it at start).
            const broken = '{\n  "log-driver": "json-file",\n  "debug": true,,\n}\n';
            h.writeDaemonJson(broken);
            const pid = d.pid();
            const run = await h.run("configure-docker-runtime.sh", INPUTS);
            assert.equal(run.code, 1);
            assert.match(run.stderr, /\[docker-runtime\] ERROR: .*daemon\.json is not valid JSON; it was left untouched \(found: nvidia-ctk: unable to load config for runtime docker: invalid character ','.*\)\. Fix: fix the file/);
            assert.equal(h.readDaemonJson(), broken);
            assert.equal(d.pid(), pid);
            assert.equal(d.pids().length, 1);
            assert.ok(d.answers());
            assert.equal(restarts(h), 0);
            assert.equal(h.record(), null);
            assert.equal(fs.readdirSync(path.dirname(h.paths.daemonJson)).join(","), "daemon.json", "no temp file left next to it");
        });
    });

    it("daemon.json edited after configure: destroy leaves it alone with a warning, no restart, backup kept", async () => {
        const original = '{"log-driver": "json-file"}\n';
        await onHost({ toolkitInstalled: true, daemonJson: original }, async (h, d) => {
            ok(await h.run("configure-docker-runtime.sh", INPUTS));
            const edited = (h.readDaemonJson() ?? "").replace('"log-driver"', '"debug": true,\n    "log-driver"');
            h.writeDaemonJson(edited);
            h.sim.resetJournal();
            const run = await h.run("restore-docker-runtime.sh", INPUTS);
            const r = ok(run);
            assert.equal(r.restored, false);
            assert.equal(r.restarted, false);
            assert.match(String(r.reason), /was edited after gpu-minikube configured it; left as it is; its content before gpu-minikube is at .*docker-runtime\.kept-/);
            assert.match(run.stderr, /\[docker-runtime-restore\] warning: .*daemon\.json was edited after gpu-minikube configured it; left as it is \(not restored, Docker not restarted\)/);
            assert.equal(h.readDaemonJson(), edited);
            assert.equal(restarts(h), 0);
            assert.equal(d.pids().length, 2);
            const kept = fs.readdirSync(h.paths.stateDir).filter((n) => n.startsWith("docker-runtime.kept-"));
            assert.equal(kept.length, 1);
            assert.equal(fs.readFileSync(path.join(h.paths.stateDir, kept[0], "daemon.json.orig"), "utf8"), original);
        });
    });

    it("Docker not coming back after the restart (no systemd): error with the daemon's last log lines and how to recover, within the deadline", async () => {
        await onHost({ toolkitInstalled: true, systemd: false }, async (h, d) => {
            d.breakStarts(["--log-level=nonsense"]);
            // 8 s: the real daemon's stop and the service restart come out of the same deadline, and on a
            // loaded 2-core machine they alone once took more than 3 s (the wait then never ran).
            const run = await h.run("configure-docker-runtime.sh", { ...INPUTS, GM_TIMEOUT_SECONDS: "8" });
            assert.equal(run.code, 1);
            assert.match(run.stderr, /gave up waiting for Docker to answer 'docker info' after \ds \(deadline \ds\)/);
            assert.ok(run.durationMs < 8000 + 4000, `took ${run.durationMs} ms for an 8 s deadline`);
            assert.equal(h.sim.calls("service", "docker", "restart").length, 1);
            assert.match(run.stderr, /\[docker-runtime\] waiting for Docker to answer 'docker info' \(\ds of \ds\)/);
            assert.match(run.stderr, /Docker daemon's last log lines, .*dockerd\.log \(last 20 lines\):\n(.*\n)* {2}\| unable to parse logging level: nonsense/);
            const error = run.stderr.trim().split("\n").pop() ?? "";
            assert.match(error, new RegExp(`^\\[docker-runtime\\] ERROR: Docker did not come back within 8s after the restart \\(found: last 'docker info': Cannot connect to the Docker daemon.*\\)\\. Fix: read the daemon log above; to go back to the previous config: sudo rm ${h.paths.daemonJson} && sudo service docker restart`));

            // Recovery as the message says: destroy (or the manual steps) brings Docker back.
            d.fixStarts();
            const r = ok(await h.run("restore-docker-runtime.sh", INPUTS));
            assert.equal(r.restored, true);
            assert.ok(d.answers());
            assert.equal(h.readDaemonJson(), null);
        });
    });

    it("Docker not coming back after the restart (systemd): systemctl's failure is reported at once with the journal", async () => {
        await onHost({ toolkitInstalled: true, daemonJson: USER_DAEMON_JSON }, async (h, d) => {
            d.breakStarts(["--log-level=nonsense"]);
            const run = await h.run("configure-docker-runtime.sh", INPUTS);
            assert.equal(run.code, 1);
            assert.ok(run.durationMs < 10_000, `took ${run.durationMs} ms; systemctl's failure must not wait for the ${INPUTS.GM_TIMEOUT_SECONDS} s deadline`);
            assert.match(run.stderr, /Job for docker\.service failed/);
            assert.match(run.stderr, /Docker daemon's last log lines, journalctl -u docker -n 20:\n(.*\n)* {2}\| unable to parse logging level: nonsense/);
            assert.match(run.stderr, new RegExp(`\\[docker-runtime\\] ERROR: Docker did not restart after adding the nvidia runtime \\(found: 'sudo systemctl restart docker' exited 1\\)\\. Fix: read the daemon log above; to go back to the previous config: sudo cp -p ${path.join(h.paths.recordDir, "daemon.json.orig")} ${h.paths.daemonJson} && sudo systemctl restart docker`));
            d.fixStarts();
            ok(await h.run("restore-docker-runtime.sh", INPUTS));
            assert.equal(h.readDaemonJson(), USER_DAEMON_JSON);
            assert.ok(d.answers());
        });
    });
});
