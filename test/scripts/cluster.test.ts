import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
    SimHost, minikubeHome, minikubeImageLoadIds, minikubeNodeImages, minikubeProfileState, minikubeStartBehaviour, summaryOf, useMinikubeSim,
    writeMinikubeProfile,
} from "../harness/simHost";

/**
 * The cluster scripts (minikube-observe/start/delete/image-load) on the simulated host: the
 * minikube stand-in keeps profiles as minikube does (config.json under ~/.minikube/profiles) and
 * answers `status -o json`, `addons list -o json`, `update-context`, `image ls` in minikube's formats.
 */

const PROFILE = "gpu-minikube";

/** The environment MinikubeCluster passes to minikube-start.sh (defaults of the config). */
function startEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE,
        GM_DRIVER: "docker",
        GM_GPUS: "all",
        GM_CPUS: "4",
        GM_MEMORY: "8g",
        GM_KUBERNETES_VERSION: "stable",
        GM_ADDONS: "ingress",
        GM_START_TIMEOUT_SECONDS: "30",
        GM_RECREATE_IF_INCOMPATIBLE: "false",
        GM_START_TOKEN: "absent-1764416400-abcd1234",
        // The user runs Pulumi as a normal user (minikube refuses the docker driver as root, exit 57).
        SIM_UID: "1000",
        ...extra,
    };
}

function tokenFile(host: SimHost): string {
    return path.join(host.home, ".gpu-minikube", "profiles", PROFILE, "start-token");
}

/** The YAML kubeconfig in a start summary, with every certificate embedded. */
function assertSelfContainedKubeconfig(kubeconfig: unknown): void {
    assert.equal(typeof kubeconfig, "string");
    const kc = kubeconfig as string;
    assert.match(kc, /^ {4}server: https:\/\/192\.168\.49\.2:8443$/m);
    assert.match(kc, /^current-context: gpu-minikube$/m);
    for (const [key, text] of [
        ["certificate-authority-data", "SIMULATED-MINIKUBE-CA"],
        ["client-certificate-data", "SIMULATED-CLIENT-CERT-gpu-minikube"],
        ["client-key-data", "SIMULATED-CLIENT-KEY-gpu-minikube"],
    ]) {
        const m = kc.match(new RegExp(`^ +${key}: (\\S+)$`, "m"));
        assert.ok(m, `${key} missing in\n${kc}`);
        assert.ok(Buffer.from(m[1], "base64").toString("utf8").includes(text), `${key} does not embed ${text}`);
    }
    assert.doesNotMatch(kc, /certificate-authority:|client-certificate:|client-key:|\.minikube/, "no file paths may remain");
}

describe("minikube-start.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: ["id"] });
        useMinikubeSim(host);
    });
    afterEach(() => host.cleanup());

    it("creates an absent profile with GPUs, the docker driver and runtime, the configured resources and addons", async () => {
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.stage, "cluster");
        assert.equal(s.profile, PROFILE);
        assert.equal(s.action, "created");
        assert.equal(s.minikubeVersion, "v1.37.0");
        assert.equal(s.kubernetesVersion, "v1.34.0");
        assert.equal(s.apiServer, "https://192.168.49.2:8443");
        assertSelfContainedKubeconfig(s.kubeconfig);
        const starts = host.calls("minikube", "start");
        assert.equal(starts.length, 1);
        assert.deepEqual(starts[0].args, ["start", "-p", PROFILE, "--driver=docker", "--container-runtime=docker", "--gpus=all",
            "--cpus=4", "--memory=8g", "--kubernetes-version=stable", "--keep-context", "--interactive=false", "--addons=ingress"]);
        // Progress is minikube's own output, streamed to stderr; stdout is the summary alone.
        assert.match(run.stderr, /Creating docker container \(CPUs=4, Memory=8192MB\)/);
        assert.equal(run.stdout.trim().split("\n").length, 1);
        assert.equal(fs.readFileSync(tokenFile(host), "utf8").trim(), "absent-1764416400-abcd1234");
        assert.deepEqual(minikubeProfileState(host)?.addons.sort(),
            ["default-storageclass", "ingress", "nvidia-device-plugin", "storage-provisioner"]);
        // The kubeconfig came from update-context on a private file, never the user's kubeconfig.
        const updates = host.calls("minikube", "update-context");
        assert.equal(updates.length, 1);
        assert.ok(!host.journal().some((e) => e.args.includes("--all") || e.args.includes("--purge")));
    });

    it("passes every configured addon and a concrete Kubernetes version", async () => {
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_ADDONS: "ingress,metrics-server", GM_KUBERNETES_VERSION: "1.33.4", GM_MEMORY: "16384mb" }));
        assert.equal(run.code, 0, run.stderr);
        const args = host.calls("minikube", "start")[0].args;
        assert.ok(args.includes("--addons=ingress") && args.includes("--addons=metrics-server"), args.join(" "));
        assert.ok(args.includes("--kubernetes-version=v1.33.4") && args.includes("--memory=16384mb"), args.join(" "));
        assert.equal(summaryOf(run).kubernetesVersion, "v1.33.4");
    });

    it("leaves a running profile with the same settings alone: zero `minikube start` calls", async () => {
        writeMinikubeProfile(host, { memoryMb: 8192, cpus: 4 });
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_START_TOKEN: "running-token" }));
        assert.equal(run.code, 0, run.stderr);
        const s = summaryOf(run);
        assert.equal(s.action, "unchanged");
        assertSelfContainedKubeconfig(s.kubeconfig);
        assert.equal(host.calls("minikube", "start").length, 0);
        assert.equal(host.calls("minikube", "delete").length, 0);
        assert.equal(host.calls("minikube", "addons", "enable").length, 0, "ingress is enabled already");
        assert.equal(fs.readFileSync(tokenFile(host), "utf8").trim(), "running-token");

        // Same inputs again: the same kubeconfig (no timestamps), still no start.
        host.resetJournal();
        const again = await host.runScript("minikube-start.sh", startEnv({ GM_START_TOKEN: "running-token" }));
        assert.equal(again.code, 0, again.stderr);
        assert.equal(summaryOf(again).kubeconfig, s.kubeconfig);
        assert.equal(host.calls("minikube", "start").length, 0);
    });

    it("enables a configured addon that a running profile lacks, without restarting it", async () => {
        writeMinikubeProfile(host, { addons: ["storage-provisioner", "nvidia-device-plugin"] });
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_ADDONS: "ingress" }));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).action, "unchanged");
        assert.equal(host.calls("minikube", "start").length, 0);
        assert.deepEqual(host.calls("minikube", "addons", "enable").map((e) => e.args), [["addons", "enable", "ingress", "-p", PROFILE]]);
    });

    for (const status of ["Stopped", "Nonexistent"] as const) {
        it(`starts a ${status === "Stopped" ? "stopped profile" : "profile whose node container is gone"} with the same flags`, async () => {
            writeMinikubeProfile(host, { status });
            const run = await host.runScript("minikube-start.sh", startEnv());
            assert.equal(run.code, 0, run.stderr);
            assert.equal(summaryOf(run).action, "started");
            const starts = host.calls("minikube", "start");
            assert.equal(starts.length, 1);
            assert.ok(starts[0].args.includes("--gpus=all") && starts[0].args.includes("-p"), starts[0].args.join(" "));
            assert.equal(host.calls("minikube", "delete").length, 0);
            assert.equal(minikubeProfileState(host)?.status, "Running");
            assert.match(run.stderr, /Restarting existing docker container/);
        });
    }

    it("restarts a stopped profile with its own recorded Kubernetes version, not what 'stable' means now", async () => {
        // Made by an older minikube whose stable was v1.33.1; today's stable (the stand-in's) is v1.34.0.
        writeMinikubeProfile(host, { status: "Stopped", kubernetesVersion: "v1.33.1" });
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_KUBERNETES_VERSION: "stable" }));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).action, "started");
        assert.ok(host.calls("minikube", "start")[0].args.includes("--kubernetes-version=v1.33.1"), host.calls("minikube", "start")[0].args.join(" "));
        assert.doesNotMatch(run.stderr, /Upgrading Kubernetes/);
        assert.equal(summaryOf(run).kubernetesVersion, "v1.33.1");
    });

    it("keeps the user's current kubectl context (--keep-context)", async () => {
        const kubeconfig = path.join(host.home, ".kube", "config");
        fs.mkdirSync(path.dirname(kubeconfig), { recursive: true });
        fs.writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\ncurrent-context: team-prod\n");
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 0, run.stderr);
        assert.match(fs.readFileSync(kubeconfig, "utf8"), /^current-context: team-prod$/m);
    });

    it("fails a start that fails, with minikube's reason and last lines and the fix; records no token", async () => {
        minikubeStartBehaviour(host, { failExitCode: 60 });
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 1);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, /\[cluster\] ERROR: minikube start failed \(exit 60\) \(found: Exiting due to PROVIDER_DOCKER_NOT_RUNNING/);
        assert.match(run.stderr, / {2}\| .*Pulling base image/, "the last lines of minikube's output are quoted");
        assert.match(run.stderr, /Fix: .*docker info/);
        assert.ok(!fs.existsSync(tokenFile(host)));
    });

    it("as root (without --force): minikube's DRV_AS_ROOT (exit 57, checked against the real minikube) reaches the user", async () => {
        const run = await host.runScript("minikube-start.sh", startEnv({ SIM_UID: "0" }));
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: minikube refuses to run the docker driver as root \(found: Exiting due to DRV_AS_ROOT: The "docker" driver should not be used with root privileges\.\)\. Fix: run Pulumi as a normal user in the docker group/);
        assert.match(run.stderr, /If you wish to continue as root, use --force/, "minikube's own advice is quoted");
        assert.ok(!fs.existsSync(tokenFile(host)));
    });

    it("fails a start that exceeds its deadline, within the deadline, quoting minikube's last lines", async () => {
        minikubeStartBehaviour(host, { hangSeconds: 30 });
        // 5 s: the profile checks before the start must leave time for it even on a loaded 2-core machine
        // (with 2 s they sometimes spent the whole deadline: "no time left to start minikube").
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_START_TIMEOUT_SECONDS: "5" }), 20_000);
        assert.equal(run.code, 1);
        assert.ok(run.durationMs < 8_000, `took ${run.durationMs} ms for a 5 s deadline`);
        assert.match(run.stderr, /ERROR: minikube start did not finish within the 5s deadline/);
        assert.match(run.stderr, / {2}\| .*Starting "gpu-minikube" primary control-plane node/);
        assert.match(run.stderr, /startTimeoutSeconds/);
        assert.ok(!fs.existsSync(tokenFile(host)));
    });

    describe("a profile that cannot take the configured settings in place", () => {
        const cases: Array<{ name: string; profile: Parameters<typeof writeMinikubeProfile>[1]; env?: Record<string, string>; found: RegExp }> = [
            { name: "created without GPUs (minikube < v1.32 config)", profile: { gpus: null }, found: /created without GPU support/ },
            { name: "created without GPUs (empty GPUs)", profile: { gpus: "" }, found: /created without GPU support/ },
            { name: "other memory (units understood: 4096 MB vs 8g)", profile: { memoryMb: 4096 }, found: /memory: the profile has 4096 MB, the configuration wants 8192 MB \(8g\)/ },
            { name: "other cpus", profile: { cpus: 2 }, found: /cpus: the profile has 2, the configuration wants 4/ },
            { name: "other Kubernetes version", profile: { kubernetesVersion: "v1.33.1" }, env: { GM_KUBERNETES_VERSION: "v1.34.0" }, found: /kubernetes version: the profile has v1\.33\.1, the configuration wants v1\.34\.0/ },
            { name: "other container runtime", profile: { containerRuntime: "containerd" }, found: /container runtime: the profile has 'containerd'/ },
        ];
        for (const c of cases) {
            it(`${c.name}: error naming the difference and the commands`, async () => {
                writeMinikubeProfile(host, c.profile);
                const run = await host.runScript("minikube-start.sh", startEnv(c.env));
                assert.equal(run.code, 1, run.stderr);
                assert.match(run.stderr, c.found);
                assert.match(run.stderr, /minikube delete -p gpu-minikube/);
                assert.match(run.stderr, /gpu-minikube:minikube\.recreateIfIncompatible/);
                assert.equal(host.calls("minikube", "start").length, 0);
                assert.equal(host.calls("minikube", "delete").length, 0);
            });
        }

        it("the same memory in other units, max, and --gpus nvidia for all are compatible", async () => {
            writeMinikubeProfile(host, { memoryMb: 8192, gpus: "all" });
            const variants: Array<Record<string, string>> = [{ GM_MEMORY: "8192" }, { GM_MEMORY: "8GB", GM_GPUS: "nvidia" }, { GM_MEMORY: "max" }];
            for (const extra of variants) {
                const run = await host.runScript("minikube-start.sh", startEnv(extra));
                assert.equal(run.code, 0, `${JSON.stringify(extra)}: ${run.stderr}`);
                assert.equal(summaryOf(run).action, "unchanged");
            }
            // "stable" is not compared with the profile's concrete version.
            assert.equal(host.calls("minikube", "start").length, 0);
        });

        it("with recreateIfIncompatible=true: says so loudly, deletes only this profile, creates it again", async () => {
            writeMinikubeProfile(host, { gpus: null, memoryMb: 4096 });
            const run = await host.runScript("minikube-start.sh", startEnv({ GM_RECREATE_IF_INCOMPATIBLE: "true" }));
            assert.equal(run.code, 0, run.stderr);
            assert.equal(summaryOf(run).action, "recreated");
            assert.match(run.stderr, /RECREATING minikube profile 'gpu-minikube': created without GPU support.*memory/);
            const mk = host.journal().filter((e) => e.cmd === "minikube").map((e) => e.args[0]);
            assert.ok(mk.indexOf("delete") >= 0 && mk.indexOf("delete") < mk.indexOf("start"), mk.join(","));
            assert.deepEqual(host.calls("minikube", "delete")[0].args, ["delete", "-p", PROFILE]);
            const config = JSON.parse(fs.readFileSync(path.join(minikubeHome(host), "profiles", PROFILE, "config.json"), "utf8"));
            assert.equal(config.GPUs, "all");
            assert.equal(config.Memory, 8192);
        });
    });

    it("embeds certificate data that minikube already wrote inline (embed-certs)", async () => {
        writeMinikubeProfile(host);
        fs.writeFileSync(path.join(host.state, "minikube", "kubeconfig-embedded"), "");
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 0, run.stderr);
        assertSelfContainedKubeconfig(summaryOf(run).kubeconfig);
    });

    it("refuses minikube older than v1.32 (no --gpus) with the upgrade command", async () => {
        useMinikubeSim(host, "v1.31.2");
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 1);
        assert.match(run.stderr, /minikube v1\.31\.2 is too old for GPUs.*Fix: upgrade minikube/);
        assert.equal(host.calls("minikube", "start").length, 0);
    });

    it("fails clearly when minikube is not installed", async () => {
        host.removeStandin("minikube");
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 1);
        assert.match(run.stderr, /\[cluster\] ERROR: minikube is not installed .*Fix: install it/);
    });

    describe("rejects hostile or malformed inputs before any command runs", () => {
        const bad: Array<[string, string]> = [
            ["GM_PROFILE", "x; rm -rf /"],
            ["GM_PROFILE", "$(touch /tmp/pwned)"],
            ["GM_PROFILE", "Upper"],
            ["GM_DRIVER", "kvm2"],
            ["GM_GPUS", "all --force"],
            ["GM_CPUS", "4 --extra-config=x"],
            ["GM_MEMORY", "8g;reboot"],
            ["GM_KUBERNETES_VERSION", "v1.34.0\n--addons=evil"],
            ["GM_ADDONS", "ingress,--purge"],
            ["GM_START_TIMEOUT_SECONDS", "-1"],
            ["GM_RECREATE_IF_INCOMPATIBLE", "yes please"],
            ["GM_START_TOKEN", "a b"],
        ];
        for (const [key, value] of bad) {
            it(`${key}=${JSON.stringify(value)}`, async () => {
                const run = await host.runScript("minikube-start.sh", startEnv({ [key]: value }));
                assert.equal(run.code, 1);
                assert.match(run.stderr, new RegExp(`\\[cluster\\] ERROR: input ${key} `));
                assert.deepEqual(host.journal(), [], "no stand-in may be called");
            });
        }
    });
});

describe("minikube-observe.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useMinikubeSim(host);
    });
    afterEach(() => host.cleanup());

    const observe = async () => {
        const run = await host.runScript("minikube-observe.sh", { GM_PROFILE: PROFILE });
        assert.equal(run.code, 0, run.stderr);
        return summaryOf(run) as { state: string; token: string };
    };

    it("running with a token file: the same token every time (start does not re-run)", async () => {
        writeMinikubeProfile(host);
        fs.mkdirSync(path.dirname(tokenFile(host)), { recursive: true });
        fs.writeFileSync(tokenFile(host), "absent-1764416400-abcd1234\n");
        const a = await observe();
        const b = await observe();
        assert.deepEqual(a, { state: "Running", token: "absent-1764416400-abcd1234" });
        assert.deepEqual(b, a);
        assert.ok(host.calls("minikube", "status", "-o", "json").length >= 1);
    });

    it("running without a token file (cluster made outside Pulumi): a token the start step has not recorded, stable", async () => {
        writeMinikubeProfile(host);
        const a = await observe();
        assert.equal(a.state, "Running");
        assert.match(a.token, /^running-[0-9a-f]{16}$/);
        assert.equal((await observe()).token, a.token);
    });

    it("stopped: a token unlike the recorded one, the same in the preview and the update phase of one up", async () => {
        writeMinikubeProfile(host, { status: "Stopped" });
        fs.mkdirSync(path.dirname(tokenFile(host)), { recursive: true });
        fs.writeFileSync(tokenFile(host), "old-token\n");
        const preview = await observe();
        const update = await observe();
        assert.equal(preview.state, "Stopped");
        assert.match(preview.token, /^stopped-[0-9a-f]{16}$/);
        assert.notEqual(preview.token, "old-token", "the start step must run");
        assert.equal(update.token, preview.token, "deterministic for the same observed state (before: a fresh random token each run)");
        // Started (and so recorded) with that token, then stopped again: another token.
        fs.writeFileSync(tokenFile(host), `${preview.token}\n`);
        const again = await observe();
        assert.notEqual(again.token, preview.token);
        assert.equal((await observe()).token, again.token);
    });

    it("absent after a delete outside Pulumi: a token unlike the recorded one; deterministic", async () => {
        writeMinikubeProfile(host);
        fs.mkdirSync(path.dirname(tokenFile(host)), { recursive: true });
        fs.writeFileSync(tokenFile(host), "running-token\n");
        assert.equal((await observe()).token, "running-token");
        fs.rmSync(path.join(minikubeHome(host), "profiles", PROFILE), { recursive: true });
        const a = await observe();
        assert.equal(a.state, "Absent");
        assert.notEqual(a.token, "running-token");
        assert.equal((await observe()).token, a.token);
    });

    it("paused or node container gone: Stopped", async () => {
        for (const status of ["Paused", "Nonexistent"] as const) {
            writeMinikubeProfile(host, { status });
            assert.equal((await observe()).state, "Stopped", status);
        }
    });

    it("absent profile: Absent, without asking minikube", async () => {
        const a = await observe();
        assert.equal(a.state, "Absent");
        assert.match(a.token, /^absent-[0-9a-f]{16}$/);
        assert.equal(host.calls("minikube").length, 0);
    });

    it("no minikube: NoMinikube", async () => {
        host.removeStandin("minikube");
        assert.equal((await observe()).state, "NoMinikube");
    });

    it("minikube status failing: Unknown, never a failure", async () => {
        writeMinikubeProfile(host);
        host.fault("minikube", { match: "status", exitCode: 1, stderr: "E1129 unexpected error" });
        assert.equal((await observe()).state, "Unknown");
    });

    it("does not depend on the caller's directory (commands carry no `dir`)", async () => {
        writeMinikubeProfile(host);
        const fromRoot = await observe();
        const elsewhere = await host.runScript("minikube-observe.sh", { GM_PROFILE: PROFILE }, 60_000, host.root);
        assert.equal(elsewhere.code, 0, elsewhere.stderr);
        assert.deepEqual(summaryOf(elsewhere), fromRoot);
    });

    it("rejects a hostile profile before any command", async () => {
        const run = await host.runScript("minikube-observe.sh", { GM_PROFILE: "x; rm -rf /" });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /\[cluster-observe\] ERROR: input GM_PROFILE is invalid/);
        assert.deepEqual(host.journal(), []);
    });
});

describe("minikube-delete.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useMinikubeSim(host);
    });
    afterEach(() => host.cleanup());

    it("deletes only our profile (never --all/--purge) and our notes; other profiles stay", async () => {
        writeMinikubeProfile(host);
        writeMinikubeProfile(host, { name: "other" });
        fs.mkdirSync(path.dirname(tokenFile(host)), { recursive: true });
        fs.writeFileSync(tokenFile(host), "t\n");
        const run = await host.runScript("minikube-delete.sh", { GM_PROFILE: PROFILE });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "cluster-delete", deleted: true });
        assert.deepEqual(host.calls("minikube", "delete").map((e) => e.args), [["delete", "-p", PROFILE]]);
        assert.equal(minikubeProfileState(host), undefined);
        assert.ok(minikubeProfileState(host, "other"), "the user's other profile is untouched");
        assert.ok(!fs.existsSync(path.dirname(tokenFile(host))));
    });

    it("absent profile: a no-op", async () => {
        const run = await host.runScript("minikube-delete.sh", { GM_PROFILE: PROFILE });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { stage: "cluster-delete", deleted: false });
        assert.equal(host.calls("minikube", "delete").length, 0);
    });

    it("a failing delete fails destroy with the command to run by hand", async () => {
        writeMinikubeProfile(host);
        host.fault("minikube", { match: "delete", exitCode: 80, stderr: "X Exiting due to GUEST_DELETE: docker not running" });
        const run = await host.runScript("minikube-delete.sh", { GM_PROFILE: PROFILE });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: minikube delete -p gpu-minikube failed \(exit 80\).*Fix: .*minikube delete -p gpu-minikube/);
    });

    it("rejects a hostile profile before any command", async () => {
        const run = await host.runScript("minikube-delete.sh", { GM_PROFILE: "x; rm -rf /" });
        assert.equal(run.code, 1);
        assert.deepEqual(host.journal(), []);
    });
});

describe("minikube-image-load.sh", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useMinikubeSim(host);
    });
    afterEach(() => host.cleanup());

    const IMAGE = "nvidia/cuda:12.5.0-base-ubuntu22.04";
    const LISTED = "docker.io/nvidia/cuda:12.5.0-base-ubuntu22.04";
    /** Image ids: the node's old image, the host's new one (the tag moved), a manifest-list digest. */
    const OLD = "1".repeat(64);
    const NEW = "2".repeat(64);
    const INDEX = "3".repeat(64);
    const load = (env: Record<string, string> = {}) => host.runScript("minikube-image-load.sh", { GM_PROFILE: PROFILE, GM_IMAGE: IMAGE, ...env });
    const loads = () => host.calls("minikube", "image", "load").map((e) => e.args);

    it("loads an image the node lacks, then skips it (listed as docker.io/…)", async () => {
        writeMinikubeProfile(host, { images: ["registry.k8s.io/pause:3.10.1"] });
        minikubeImageLoadIds(host, { [IMAGE]: NEW });
        const first = await load({ GM_IMAGE_ID: `sha256:${NEW}` });
        assert.equal(first.code, 0, first.stderr);
        assert.deepEqual(summaryOf(first), {
            stage: "image-load", image: IMAGE, loaded: true, nodeImageId: `sha256:${NEW}`, hostImageId: `sha256:${NEW}`,
        });
        assert.deepEqual(loads(), [["-p", PROFILE, "image", "load", IMAGE]]);
        assert.doesNotMatch(first.stderr, /WARNING/);
        host.resetJournal();
        const second = await load({ GM_IMAGE_ID: `sha256:${NEW}` });
        assert.equal(second.code, 0, second.stderr);
        assert.equal(summaryOf(second).loaded, false);
        assert.equal(loads().length, 0);
        assert.deepEqual(host.calls("minikube", "image", "ls").map((e) => e.args), [["-p", PROFILE, "image", "ls", "--format", "json"]]);
    });

    it("skips an image the node lists at the host's id, in either id form (docker runtime: bare hex; CRI: sha256:…)", async () => {
        for (const [runtime, hostId] of [["docker", `sha256:${OLD}`], ["docker", OLD], ["containerd", OLD], ["containerd", `sha256:${OLD}`]]) {
            writeMinikubeProfile(host, { containerRuntime: runtime, images: [{ name: LISTED, id: OLD }] });
            host.resetJournal();
            const run = await load({ GM_IMAGE_ID: hostId });
            assert.equal(run.code, 0, run.stderr);
            assert.deepEqual(summaryOf(run), {
                stage: "image-load", image: IMAGE, loaded: false, nodeImageId: `sha256:${OLD}`, hostImageId: `sha256:${OLD}`,
            }, `${runtime}, GM_IMAGE_ID ${hostId}`);
            assert.equal(loads().length, 0);
        }
    });

    it("loads the host's image when the node lists the name at another id (the tag moved), and says so", async () => {
        writeMinikubeProfile(host, { images: ["registry.k8s.io/pause:3.10.1", { name: LISTED, id: OLD }] });
        minikubeImageLoadIds(host, { [IMAGE]: NEW });
        const run = await load({ GM_IMAGE_ID: `sha256:${NEW}` });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "image-load", image: IMAGE, loaded: true, nodeImageId: `sha256:${NEW}`, hostImageId: `sha256:${NEW}`,
        });
        assert.deepEqual(loads(), [["-p", PROFILE, "image", "load", IMAGE]]);
        assert.match(run.stderr, new RegExp(`has ${LISTED} as sha256:${OLD}, the host as sha256:${NEW} \\(a moved tag\\): loading the host's`));
        assert.doesNotMatch(run.stderr, /WARNING/);
        // The node's tag now names the new image; the old one is left dangling, as `docker load` leaves it.
        const node = minikubeNodeImages(host);
        assert.deepEqual(Object.keys(node).sort(), ["docker.io/library/<none>:<none>", LISTED, "registry.k8s.io/pause:3.10.1"].sort());
        assert.equal(node[LISTED], NEW);
        assert.equal(node["docker.io/library/<none>:<none>"], OLD);
    });

    it("without GM_IMAGE_ID, a listed name is not loaded again whatever its id (as before ids were compared)", async () => {
        writeMinikubeProfile(host, { images: [{ name: LISTED, id: OLD }] });
        minikubeImageLoadIds(host, { [IMAGE]: NEW });
        for (const env of [{}, { GM_IMAGE_ID: "" }] as Array<Record<string, string>>) {
            host.resetJournal();
            const run = await load(env);
            assert.equal(run.code, 0, run.stderr);
            assert.deepEqual(summaryOf(run), { stage: "image-load", image: IMAGE, loaded: false, nodeImageId: `sha256:${OLD}`, hostImageId: null });
            assert.equal(loads().length, 0);
            assert.match(run.stderr, /no host image id given to compare/);
        }
    });

    it("a host id the node never shows after loading (containerd image store: manifest-list digest) is a warning, not a failure", async () => {
        // The host's Docker names the image by its index digest; the node's Docker by its config digest.
        writeMinikubeProfile(host, { images: [{ name: LISTED, id: OLD }] });
        minikubeImageLoadIds(host, { [IMAGE]: NEW });
        const run = await load({ GM_IMAGE_ID: `sha256:${INDEX}` });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), {
            stage: "image-load", image: IMAGE, loaded: true, nodeImageId: `sha256:${NEW}`, hostImageId: `sha256:${INDEX}`,
        });
        assert.match(run.stderr, new RegExp(`WARNING: after loading, profile ${PROFILE} lists ${LISTED} as sha256:${NEW} \\(new with this load\\), ` +
            `the host's Docker as sha256:${INDEX}\\..*containerd image store`));
        // The ids never match, so each run of the step loads again (and says the node's id did not change).
        host.resetJournal();
        const again = await load({ GM_IMAGE_ID: `sha256:${INDEX}` });
        assert.equal(again.code, 0, again.stderr);
        assert.equal(summaryOf(again).nodeImageId, `sha256:${NEW}`);
        assert.equal(loads().length, 1);
        assert.match(again.stderr, /WARNING: .*\(unchanged by the load\)/);
    });

    it("a node that is not running gets nothing: minikube lists nothing and loads nothing (exit 0), so the step fails saying so", async () => {
        writeMinikubeProfile(host, { status: "Stopped", images: [{ name: LISTED, id: OLD }] });
        const run = await load({ GM_IMAGE_ID: `sha256:${OLD}` });
        assert.equal(run.code, 1);
        assert.match(run.stderr, new RegExp(`ERROR: nvidia/cuda:12\\.5\\.0-base-ubuntu22\\.04 is not in profile '${PROFILE}' after loading it .*minikube status -p ${PROFILE}`));
        assert.equal(loads().length, 1);
    });

    it("a failing image list fails with minikube's message and what to check", async () => {
        writeMinikubeProfile(host, { images: [{ name: LISTED, id: OLD }] });
        host.fault("minikube", { match: "image ls", exitCode: 80, stderr: "X Exiting due to GUEST_IMAGE_LIST: Failed to list images" });
        const run = await load({ GM_IMAGE_ID: `sha256:${NEW}` });
        assert.equal(run.code, 1);
        assert.match(run.stderr, new RegExp(`ERROR: could not list the images of profile '${PROFILE}' \\(found: 'minikube -p ${PROFILE} image ls --format json' ` +
            "exited 80: X Exiting due to GUEST_IMAGE_LIST: Failed to list images\\)\\. Fix: check 'minikube status"));
        assert.equal(loads().length, 0);
    });

    it("rejects a malformed or hostile GM_IMAGE_ID before any command", async () => {
        // A profile that exists: an id that got through would reach minikube (the journal).
        writeMinikubeProfile(host, { images: [{ name: LISTED, id: OLD }] });
        for (const bad of ["sha256:abc", OLD.slice(1), `sha256:${"ab".repeat(32).toUpperCase()}`, `sha512:${OLD}`, `${OLD}\nreboot`, `$(reboot)`,
            `sha256:${OLD};reboot`, ` ${OLD}`]) {
            const run = await load({ GM_IMAGE_ID: bad });
            assert.equal(run.code, 1, bad);
            assert.match(run.stderr, /input GM_IMAGE_ID is invalid .*sha256: and 64 lowercase hex digits/, bad);
            assert.deepEqual(host.journal(), [], bad);
        }
    });

    it("recognises Docker Hub library images (busybox → docker.io/library/busybox:latest)", async () => {
        writeMinikubeProfile(host, { images: ["docker.io/library/busybox:latest"] });
        const run = await host.runScript("minikube-image-load.sh", { GM_PROFILE: PROFILE, GM_IMAGE: "busybox" });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(summaryOf(run).loaded, false);
    });

    it("a failing load fails with the checks to make", async () => {
        writeMinikubeProfile(host);
        fs.writeFileSync(path.join(host.state, "minikube", "image-load-fail"), "80\n");
        const run = await host.runScript("minikube-image-load.sh", { GM_PROFILE: PROFILE, GM_IMAGE: IMAGE });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /ERROR: could not load nvidia\/cuda:12\.5\.0-base-ubuntu22\.04 .*docker image inspect/);
    });

    it("refuses a digest-pinned reference with the reason, before any command", async () => {
        const run = await host.runScript("minikube-image-load.sh", { GM_PROFILE: PROFILE, GM_IMAGE: `${IMAGE}@sha256:${"a".repeat(64)}` });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /input GM_IMAGE is invalid .*no @sha256 digest.*minikube image load drops digests/);
        assert.deepEqual(host.journal(), []);
    });

    it("rejects a hostile image reference before any command", async () => {
        const run = await host.runScript("minikube-image-load.sh", { GM_PROFILE: PROFILE, GM_IMAGE: "nvidia/cuda;reboot" });
        assert.equal(run.code, 1);
        assert.match(run.stderr, /input GM_IMAGE is invalid/);
        assert.deepEqual(host.journal(), []);
    });
});
