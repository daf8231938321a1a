import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parseNvidiaSmi } from "../components/nvidiaSmi";
import { SHARING_COMMAND, VERIFICATION_COMMAND } from "../components/verificationJob";
import { NVIDIA_SMI_FIXTURES, SimHost, summaryOf } from "./harness/simHost";

/**
 * The verification Job's container command (the query with its `kmd_version` fallback) run by a real
 * `sh` against the nvidia-smi stand-in's drivers, and the real H200 recordings of the same command.
 */

const H200_580_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const H200_610_UUID = "GPU-00000000-0000-0000-0000-000000000000";

const hosts: SimHost[] = [];
after(() => hosts.forEach((h) => h.cleanup()));

function runInContainerShell(command: string[], driver: string): { code: number | null; stdout: string } {
    const host = SimHost.create({ standins: ["nvidia-smi"] });
    hosts.push(host);
    assert.equal(command[0], "sh");
    const res = spawnSync("sh", command.slice(1), { env: host.env({ SIM_NVIDIA_SMI_DRIVER: driver }), encoding: "utf8" });
    return { code: res.status, stdout: res.stdout };
}

describe("verification command: driver_version first, kmd_version when the driver rejects it", () => {
    for (const [driver, version, uuid] of [
        ["580", "580.159.04", H200_580_UUID],
        ["610", "610.43.02", H200_610_UUID],
        // The stand-in's hypothetical CUDA 14 driver: driver_version gone, as R610 announces.
        ["610-no-driver-version", "610.43.02", H200_610_UUID],
    ] as const) {
        it(`driver ${driver}: exit 0 and a CSV the parser reads (driver ${version})`, () => {
            const run = runInContainerShell(VERIFICATION_COMMAND, driver);
            assert.equal(run.code, 0, run.stdout);
            assert.doesNotMatch(run.stdout, /is not a valid field/);
            const report = parseNvidiaSmi(run.stdout);
            assert.equal(report.driverVersion, version);
            assert.deepEqual(report.gpus.map((g) => [g.index, g.uuid]), [[0, uuid]]);
            const header = run.stdout.split("\n").find((l) => l.startsWith("index, name, uuid, "));
            assert.equal(header?.split(", ")[3], driver === "610-no-driver-version" ? "kmd_version" : "driver_version");
        });
    }

    it("the sharing command keeps its hold after the fallback (the subshell exit does not end the shell)", () => {
        const quick = SHARING_COMMAND.map((part) => part.replace(/sleep \d+$/, "echo held"));
        const run = runInContainerShell(quick, "610-no-driver-version");
        assert.equal(run.code, 0);
        assert.match(run.stdout, /kmd_version[^\n]*\n[^\n]*610\.43\.02[^\n]*\nheld\n$/);
    });

    it("a query failure other than an unknown field keeps nvidia-smi's exit status and skips the fallback", () => {
        const host = SimHost.create({ standins: [] });
        hosts.push(host);
        host.writeStandin("nvidia-smi", 'case "$*" in *--query-gpu*) echo "Failed to initialize NVML: Driver/library version mismatch"; exit 18 ;; esac\necho table');
        const res = spawnSync("sh", VERIFICATION_COMMAND.slice(1), { env: host.env(), encoding: "utf8" });
        assert.equal(res.status, 18);
        assert.match(res.stdout, /^table\nFailed to initialize NVML: Driver\/library version mismatch\n$/);
        assert.equal(host.calls("nvidia-smi", "kmd_version").length, 0);
    });

    it("real H200 (driver 580.159.04): the command printed exactly what the plain driver_version query printed", () => {
        const recorded = fs.readFileSync(path.join(NVIDIA_SMI_FIXTURES, "h200c-580-verification-command-fallback.txt"), "utf8");
        const report = parseNvidiaSmi(recorded);
        assert.equal(report.driverVersion, "580.159.04");
        assert.equal(report.cudaVersion, "13.0");
        assert.deepEqual(report.gpus.map((g) => [g.index, g.name, g.uuid]), [[0, "NVIDIA H200", "GPU-b37bb333-f158-10a1-daae-df542d67044f"]]);
    });

    it("real H200 with neither field known: the table is still read, nvidia-smi's exit-2 line yields no GPU row", () => {
        const recorded = fs.readFileSync(path.join(NVIDIA_SMI_FIXTURES, "h200c-580-verification-command-no-driver-field.txt"), "utf8");
        assert.match(recorded, /Field "kmd_version" is not a valid field to query\.\n/);
        const report = parseNvidiaSmi(recorded);
        assert.equal(report.driverVersion, "580.159.04");
        assert.deepEqual(report.gpus.map((g) => g.uuid), [null]);
    });
});

describe("the other nvidia-smi queries take the same fallback", () => {
    it("docker-gpu-check.sh runs the verification Job's exact command in its GPU container", () => {
        const script = fs.readFileSync(path.join(__dirname, "..", "scripts", "docker-gpu-check.sh"), "utf8");
        const query = /QUERY=\$\(cat <<'QUERY_EOF'\n(.*)\nQUERY_EOF\n\)/.exec(script)?.[1];
        assert.equal(query, VERIFICATION_COMMAND[2]);
    });

    it("host-facts.sh on a driver without driver_version asks kmd_version and reads the driver", async () => {
        const host = SimHost.create({ standins: ["nvidia-smi"] });
        hosts.push(host);
        const run = await host.runScript("host-facts.sh", { SIM_NVIDIA_SMI_DRIVER: "610-no-driver-version" });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(summaryOf(run), { driverVersion: "610.43.02", gpuUuids: [H200_610_UUID], error: null });
        assert.deepEqual(host.calls("nvidia-smi").map((e) => e.args[0]),
            ["--query-gpu=index,name,uuid,driver_version", "--query-gpu=index,name,uuid,kmd_version"]);
    });
});
