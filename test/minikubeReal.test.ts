import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { minikubeSource } from "./harness/minikubeSource";
import { minikubeProfileConfig, minikubeProfileJson } from "./harness/minikubeProfile";
import { offlineMissing, OfflineRun, runOffline } from "./harness/offline";
import { DockerEngine, PrivateDocker, privateDockerMissing } from "./harness/privateDocker";
import { MINIKUBE_VERSION, skipOrFailUnderCi, toolPath, toolsMissing } from "./harness/realTools";
import { SimHost, useMinikubeSim, writeMinikubeProfile } from "./harness/simHost";

/**
 * The real minikube v1.38.1 (built by test/tools/build.sh) next to our stand-in
 * (test/harness/bin/minikube), for every call the project makes that the real binary can answer
 * here, where no node container can be created: offline (`unshare -n`), with a private
 * MINIKUBE_HOME, HOME and TMPDIR. The stand-in must give the same exit code and the same output
 * (CloudEvents ids aside). Refusing root and validating `--gpus` need a Docker daemon: a private,
 * real dockerd (privateDocker.ts); minikube exits at those checks, before it creates anything.
 */

const missing = toolsMissing("minikube") ?? offlineMissing();
const PROFILE = "gm-absent";

/** One answer: exit code, stdout, stderr. */
type Answer = { code: number | null; stdout: string; stderr: string };

/** A private MINIKUBE_HOME/HOME/TMPDIR for the real minikube. */
class RealMinikube {
    readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "gm-mk-"));

    env(extra: Record<string, string> = {}): Record<string, string> {
        for (const d of ["home", "tmp"]) fs.mkdirSync(path.join(this.root, d), { recursive: true });
        return {
            PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
            HOME: path.join(this.root, "home"),
            TMPDIR: path.join(this.root, "tmp"),
            MINIKUBE_HOME: path.join(this.root, "home", ".minikube"),
            LANG: "C.UTF-8",
            ...extra,
        };
    }

    run(args: string[], extra: Record<string, string> = {}): Promise<OfflineRun> {
        return runOffline(toolPath("minikube"), args, { env: this.env(extra), timeoutMs: 120_000 });
    }

    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}

/** Runs the stand-in directly on HOST (as a script would), as minikube VERSION. */
function standin(host: SimHost, args: string[], extra: Record<string, string> = {}): Answer {
    const r = spawnSync(path.join(host.bin, "minikube"), args, {
        env: host.env({ SIM_MINIKUBE_VERSION: MINIKUBE_VERSION, ...extra }), encoding: "utf8", timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** CloudEvents carry a random id; everything else must match. */
function normalize(text: string): string {
    return text.replace(/"id":"[0-9a-f-]{36}"/g, '"id":"<uuid>"');
}

function assertSame(real: Answer, ours: Answer, what: string): void {
    assert.equal(ours.code, real.code, `${what}: exit code (real stderr: ${real.stderr})`);
    assert.equal(normalize(ours.stdout), normalize(real.stdout), `${what}: stdout`);
    assert.equal(normalize(ours.stderr), normalize(real.stderr), `${what}: stderr`);
}

describe(`the minikube stand-in answers as the real minikube ${MINIKUBE_VERSION} does`, () => {
    let real: RealMinikube | undefined;
    let host: SimHost;
    before(() => {
        if (!missing) real = new RealMinikube();
        host = SimHost.create({ standins: ["minikube"] });
        useMinikubeSim(host);
    });
    after(() => { real?.cleanup(); host.cleanup(); });

    const cases: Array<[string, string[]]> = [
        ["version --short (minikube-start.sh's version check)", ["version", "--short"]],
        ["status -o json of an absent profile (minikube_profile_state)", ["status", "-p", PROFILE, "-o", "json"]],
        ["status of an absent profile", ["status", "-p", PROFILE]],
        ["addons list -o json of an absent profile (device-plugin.sh)", ["addons", "list", "-p", PROFILE, "-o", "json"]],
        ["addons enable on an absent profile", ["addons", "enable", "nvidia-device-plugin", "-p", PROFILE]],
        ["delete -p of an absent profile (minikube-delete.sh)", ["delete", "-p", PROFILE]],
        ["update-context of an absent profile (minikube-start.sh)", ["-p", PROFILE, "update-context"]],
    ];
    for (const [what, args] of cases) {
        it(what, async (t) => {
            if (!real) return skipOrFailUnderCi(t, missing as string);
            assertSame(await real.run(args), standin(host, args), what);
        });
    }

    for (const format of [[], ["--format", "json"]]) {
        it(`${["image ls", ...format].join(" ")} of an absent profile: exit 14 MK_USAGE (the stand-in's first line is the real one's)`, async (t) => {
            if (!real) return skipOrFailUnderCi(t, missing as string);
            const args = ["-p", PROFILE, "image", "ls", ...format];
            const r = await real.run(args);
            const ours = standin(host, args);
            assert.equal(ours.code, r.code);
            assert.equal(r.code, 14);
            // The real one adds a boxed "please file an issue" text; the stand-in keeps the error line.
            assert.equal(ours.stderr.split("\n")[0], r.stderr.split("\n")[0]);
            assert.equal(ours.stdout.trim(), r.stdout.trim());
        });
    }

    // A profile whose config.json exists but whose node does not (no machine): minikube lists the images of
    // Running nodes only (machine/cache_images.go ListImages), so it lists none and exits 0. (`image load`
    // likewise loads into Running nodes only, DoLoadImages, exit 0; not compared here: the real one first
    // reads the image from a Docker daemon this machine does not give it.)
    for (const args of [["image", "ls"], ["image", "ls", "--format", "json"], ["image", "ls", "--format=json"]]) {
        it(`${args.join(" ")} of a profile without a node: an empty list, exit 0`, async (t) => {
            if (missing) return skipOrFailUnderCi(t, missing);
            // Their own homes: the other cases here need a minikube home without profiles.
            const ownReal = new RealMinikube();
            const ownHost = SimHost.create({ standins: ["minikube"] });
            try {
                const name = "gm-nonode";
                const values = {
                    name, cpus: 4, memoryMb: 8192, driver: "docker", gpus: "all", kubernetesVersion: "v1.34.0", containerRuntime: "docker", addons: [],
                };
                const dir = path.join(ownReal.root, "home", ".minikube", "profiles", name);
                fs.mkdirSync(dir, { recursive: true });
                fs.writeFileSync(path.join(dir, "config.json"), minikubeProfileJson(values));
                writeMinikubeProfile(ownHost, { name, status: "Nonexistent", images: ["docker.io/nvidia/cuda:12.5.0-base-ubuntu22.04"] });
                const r = await ownReal.run(["-p", name, ...args]);
                assert.equal(r.code, 0, r.stderr);
                assertSame(r, standin(ownHost, ["-p", name, ...args]), args.join(" "));
            } finally {
                ownReal.cleanup();
                ownHost.cleanup();
            }
        });
    }

    it("profile list -o json with no profiles (not called by the scripts; recorded for the stand-in's users)", async (t) => {
        if (!real) return skipOrFailUnderCi(t, missing as string);
        const r = await real.run(["profile", "list", "-o", "json"]);
        assert.equal(r.code, 0);
        assert.deepEqual(JSON.parse(r.stdout), { invalid: [], valid: [] });
    });
});

describe(`minikube start ${MINIKUBE_VERSION} refuses what the stand-in refuses (private real dockerd)`, () => {
    const dockerMissing = missing ?? privateDockerMissing();
    let engine: DockerEngine | undefined;
    let daemon: PrivateDocker | undefined;
    let host: SimHost;
    let real: RealMinikube | undefined;
    /** Our exact start line (scripts/minikube-start.sh) for a new profile. */
    const START = ["start", "-p", PROFILE, "--driver=docker", "--container-runtime=docker", "--gpus=all", "--cpus=2", "--memory=4g",
        "--kubernetes-version=v1.34.0", "--interactive=false", "--addons=ingress"];

    before(async () => {
        host = SimHost.create({ standins: ["minikube", "id"] });
        useMinikubeSim(host);
        if (dockerMissing) return;
        engine = new DockerEngine();
        const config = path.join(host.root, "daemon.json");
        fs.writeFileSync(config, "{}\n");
        daemon = await engine.start(host, config);
        real = new RealMinikube();
    });
    after(async () => {
        daemon?.stop();
        await engine?.shutdown();
        real?.cleanup();
        host.cleanup();
    });

    /** The real minikube, with the private daemon's socket and the real docker CLI on PATH. */
    function realStart(args: string[]): Promise<OfflineRun> {
        const d = daemon as PrivateDocker;
        return (real as RealMinikube).run(args, { ...d.env(), PATH: `${path.dirname((engine as DockerEngine).cli)}:/usr/sbin:/usr/bin:/sbin:/bin` });
    }

    /** Only the lines after minikube's banner ("* [p] minikube v… on <host OS>"), which names the machine. */
    function afterBanner(text: string): string {
        return text.split("\n").filter((l) => !/^\* \[.*\] minikube v/.test(l) && !/^ {2}- MINIKUBE_HOME=/.test(l)).join("\n").trim();
    }

    it("as root without --force: exit 57 DRV_AS_ROOT, with the same messages", async (t) => {
        if (dockerMissing) return skipOrFailUnderCi(t, dockerMissing);
        assert.equal(process.getuid?.(), 0, "CI runs as root");
        const r = await realStart(START);
        const ours = standin(host, START);
        assert.equal(r.code, 57, r.stderr);
        assert.equal(ours.code, 57);
        assert.equal(ours.stderr.trim(), r.stderr.trim());
        assert.equal(afterBanner(ours.stdout), afterBanner(r.stdout));
        const profileDir = path.join((real as RealMinikube).root, "home", ".minikube", "profiles", PROFILE);
        assert.ok(!fs.existsSync(path.join(profileDir, "config.json")), `no profile config was written (${fs.existsSync(profileDir) ? fs.readdirSync(profileDir).join(",") : "no dir"})`);
    });

    it("--gpus with the containerd runtime (as root with --force): exit 14 MK_USAGE, with the same message", async (t) => {
        if (dockerMissing) return skipOrFailUnderCi(t, dockerMissing);
        const args = [...START.map((a) => (a === "--container-runtime=docker" ? "--container-runtime=containerd" : a)), "--force"];
        const r = await realStart(args);
        const ours = standin(host, args);
        assert.equal(r.code, 14, r.stderr);
        assert.equal(ours.code, 14);
        assert.equal(ours.stderr.trim(), r.stderr.trim());
    });

    it("the stand-in refuses root on its own, and accepts --force or a normal user", () => {
        assert.equal(standin(host, START, { SIM_UID: "0" }).code, 57);
        const forced = standin(host, [...START, "--force"], { SIM_UID: "0" });
        assert.equal(forced.code, 0, forced.stderr);
        assert.match(forced.stderr, /^! minikube skips various validations when --force is supplied/m);
        standin(host, ["delete", "-p", PROFILE]);
        assert.equal(standin(host, START, { SIM_UID: "1000" }).code, 0);
    });
});

/** Exported fields (name, Go type) of struct NAME in Go SOURCE, in declaration order. */
function goStructFields(source: string, name: string): Array<[string, string]> {
    const m = new RegExp(`^type ${name} struct \\{\\n([\\s\\S]*?)^\\}`, "m").exec(source);
    if (!m) throw new Error(`no struct ${name}`);
    return m[1].split("\n")
        .map((l) => l.replace(/\/\/.*$/, "").trim())
        .filter((l) => /^[A-Z]\w*\s+\S/.test(l))
        .map((l) => { const [field, type] = l.split(/\s+/); return [field, type]; });
}

/** Whether VALUE is what encoding/json writes for Go type TYPE. */
function jsonFitsGoType(value: unknown, type: string): boolean {
    if (type === "string") return typeof value === "string";
    if (type === "bool") return typeof value === "boolean";
    if (/^(u?int\d*|time\.Duration)$/.test(type)) return Number.isInteger(value);
    if (type.startsWith("[]") || type === "ExtraOptionSlice") return value === null || Array.isArray(value);
    if (type.startsWith("map[") || type.startsWith("*")) return value === null || (typeof value === "object" && !Array.isArray(value));
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

describe(`the simulated profile config.json has minikube ${MINIKUBE_VERSION}'s format (pkg/minikube/config/types.go)`, () => {
    const src = minikubeSource();
    it("every ClusterConfig, KubernetesConfig and Node field, in order, with JSON types that fit the Go types", (t) => {
        if (!src.dir) return skipOrFailUnderCi(t, src.missing ?? "minikube source missing");
        const types = fs.readFileSync(path.join(src.dir, "pkg", "minikube", "config", "types.go"), "utf8");
        const config = minikubeProfileConfig({
            name: "p", cpus: 4, memoryMb: 8192, driver: "docker", gpus: "all", kubernetesVersion: "v1.35.1", containerRuntime: "docker", addons: ["ingress"],
        });
        const check = (obj: Record<string, unknown>, struct: string) => {
            const fields = goStructFields(types, struct);
            assert.deepEqual(Object.keys(obj), fields.map(([f]) => f), `${struct}: fields and order`);
            for (const [f, type] of fields) assert.ok(jsonFitsGoType(obj[f], type), `${struct}.${f}: ${JSON.stringify(obj[f])} is not a JSON ${type}`);
        };
        check(config, "ClusterConfig");
        check(config.KubernetesConfig as Record<string, unknown>, "KubernetesConfig");
        check((config.Nodes as Record<string, unknown>[])[0], "Node");
    });

    it("the stand-in's `start` writes exactly that file", () => {
        const host = SimHost.create({ standins: ["minikube"] });
        try {
            useMinikubeSim(host);
            const r = standin(host, ["start", "-p", "p", "--driver=docker", "--container-runtime=docker", "--gpus=all", "--cpus=4", "--memory=8g",
                "--kubernetes-version=v1.35.1", "--force"]);
            assert.equal(r.code, 0, r.stderr);
            const written = fs.readFileSync(path.join(host.home, ".minikube", "profiles", "p", "config.json"), "utf8");
            assert.equal(written, JSON.stringify(minikubeProfileConfig({
                name: "p", cpus: 4, memoryMb: 8192, driver: "docker", gpus: "all", kubernetesVersion: "v1.35.1", containerRuntime: "docker", addons: [],
            }), null, 4));
        } finally {
            host.cleanup();
        }
    });
});
