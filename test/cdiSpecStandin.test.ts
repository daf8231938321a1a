import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { DRIVER_VERSION } from "./harness/hostPrepHost";
import { SimHost } from "./harness/simHost";

/**
 * The nvidia-ctk stand-in answers `cdi generate` itself (the real one needs NVML, absent here). Its
 * spec is held against the spec the real nvidia-ctk v1.20.0 generated on an H200
 * (test/fixtures/cdi/SOURCES.md): same CDI version and kind, the same device names, the same
 * per-device and common device nodes (the stand-in's subset), the same env, and hooks the real spec
 * also has, with the real spec's hook env and mount options. What the stand-in leaves out on purpose:
 * all library mounts but libcuda's (from the simulated host's driver dir), the compat/ldcache-only
 * hooks' other links, and major/minor numbers (its nodes map to /dev/null so a CDI-capable Docker
 * can create them on this machine: test/scripts/hostPrep.cdi.docker.test.ts runs it on Docker 28.5.2).
 * Its hooks also carry SIM_STATE, so the hook stand-in can record that Docker ran them.
 */

interface DeviceNode { path: string; hostPath?: string }
interface Hook { hookName: string; path: string; args?: string[]; env?: string[] }
interface Mount { hostPath: string; containerPath: string; options?: string[] }
interface ContainerEdits { env?: string[]; deviceNodes?: DeviceNode[]; hooks?: Hook[]; mounts?: Mount[] }
interface CdiSpec { cdiVersion: string; kind: string; devices: { name: string; containerEdits: ContainerEdits }[]; containerEdits: ContainerEdits }

const REAL = parse(fs.readFileSync(path.join(__dirname, "fixtures", "cdi", "h200c-580-nvidia-ctk-1.20.0-generate.yaml"), "utf8")) as CdiSpec;
const hosts: SimHost[] = [];
after(() => hosts.forEach((h) => h.cleanup()));

function standinSpec(): CdiSpec {
    const host = SimHost.create({ standins: ["nvidia-ctk"] });
    hosts.push(host);
    // The driver's libcuda on the simulated host, as HostPrepHost has it: the stand-in mounts what it finds.
    const lib = path.join(host.fsRoot, "usr", "lib", "x86_64-linux-gnu", `libcuda.so.${DRIVER_VERSION}`);
    fs.mkdirSync(path.dirname(lib), { recursive: true });
    fs.writeFileSync(lib, "");
    const out = path.join(host.root, "nvidia.yaml");
    const res = spawnSync("nvidia-ctk", ["cdi", "generate", `--output=${out}`], { env: host.env({ SIM_FS: host.fsRoot }), encoding: "utf8" });
    assert.equal(res.status, 0, res.stderr);
    return parse(fs.readFileSync(out, "utf8")) as CdiSpec;
}

/** A device's name as a kind of name: the index, a GPU UUID, or `all`. */
const nameShape = (name: string): string => (/^\d+$/.test(name) ? "index" : /^GPU-[0-9a-f-]+$/.test(name) ? "uuid" : name);
const hookKey = (h: Hook): string => `${h.hookName} ${path.basename(h.path)} ${(h.args ?? []).slice(0, 2).join(" ")}`;

describe("nvidia-ctk stand-in's `cdi generate` against the real nvidia-ctk's spec (H200)", () => {
    const sim = standinSpec();

    it("same CDI version, kind and device names (index, UUID, all)", () => {
        assert.equal(sim.cdiVersion, REAL.cdiVersion);
        assert.equal(sim.kind, REAL.kind);
        assert.deepEqual(sim.devices.map((d) => nameShape(d.name)), REAL.devices.map((d) => nameShape(d.name)));
        assert.deepEqual(REAL.devices.map((d) => nameShape(d.name)), ["index", "uuid", "all"]);
    });

    it("each device carries the same GPU device node; the common nodes are the real spec's", () => {
        assert.deepEqual(sim.devices.map((d) => d.containerEdits.deviceNodes?.map((n) => n.path)),
            REAL.devices.map((d) => d.containerEdits.deviceNodes?.map((n) => n.path)));
        const realCommon = (REAL.containerEdits.deviceNodes ?? []).map((n) => n.path);
        for (const node of sim.containerEdits.deviceNodes ?? []) assert.ok(realCommon.includes(node.path), `${node.path} not in ${realCommon.join(", ")}`);
    });

    it("the env the real spec sets (NVIDIA_VISIBLE_DEVICES=void), and only hooks the real spec has", () => {
        assert.ok(REAL.containerEdits.env?.includes("NVIDIA_VISIBLE_DEVICES=void"));
        assert.ok(sim.containerEdits.env?.includes("NVIDIA_VISIBLE_DEVICES=void"));
        const realHooks = new Set((REAL.containerEdits.hooks ?? []).map(hookKey));
        const simHooks = sim.containerEdits.hooks ?? [];
        assert.ok(simHooks.length > 0);
        for (const hook of simHooks) assert.ok(realHooks.has(hookKey(hook)), `${hookKey(hook)} not among ${[...realHooks].join("; ")}`);
    });

    it("the hooks' env and the libcuda mount's options are the real spec's", () => {
        const realEnv = new Set((REAL.containerEdits.hooks ?? []).map((h) => JSON.stringify(h.env)));
        assert.deepEqual([...realEnv], [JSON.stringify(["NVIDIA_CTK_DEBUG=false"])]);
        for (const hook of sim.containerEdits.hooks ?? []) {
            assert.deepEqual(hook.env?.filter((e) => !e.startsWith("SIM_STATE=")), ["NVIDIA_CTK_DEBUG=false"]);
        }
        const realCuda = (REAL.containerEdits.mounts ?? []).find((m) => /\/libcuda\.so\.[0-9.]+$/.test(m.containerPath));
        const simCuda = (sim.containerEdits.mounts ?? []).find((m) => /\/libcuda\.so\.[0-9.]+$/.test(m.containerPath));
        assert.ok(realCuda && simCuda, "both mount the driver's libcuda.so.<version>");
        assert.equal(path.basename(simCuda.containerPath), path.basename(realCuda.containerPath));
        assert.deepEqual(simCuda.options, realCuda.options);
    });
});
