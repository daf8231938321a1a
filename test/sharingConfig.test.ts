// Config keys of manifest mode and GPU sharing: every new key validated, hostile values rejected
// naming the key, and the cross-key rules (timeSlicing needs manifest mode and replicas; no MPS).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, GpuMinikubeConfig, resolveConfig } from "../components/config";

const HOSTILE = ["a;rm -rf /", "$(reboot)", "`id`", "a'b", "a\"b", "a\nb", "a b", "gpü", "a|b", "a&&b", "a>b", ""];

function problemsOf(devicePlugin: unknown): string[] {
    try {
        resolveConfig({ devicePlugin: JSON.stringify(devicePlugin) });
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail(`config was accepted: ${JSON.stringify(devicePlugin)}`);
}

function plugin(devicePlugin: unknown): GpuMinikubeConfig["devicePlugin"] {
    return resolveConfig({ devicePlugin: JSON.stringify(devicePlugin) }).devicePlugin;
}

/** Exactly one problem, on KEY, quoting what was found. */
function assertRejected(devicePlugin: unknown, key: string, found: unknown): string {
    const problems = problemsOf(devicePlugin);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.ok(problems[0].startsWith(`gpu-minikube:devicePlugin.${key}: found `), problems[0]);
    const shown = JSON.stringify(found);
    assert.ok(problems[0].includes(shown.length > 80 ? shown.slice(0, 77) : shown), `${problems[0]} should quote ${shown}`);
    return problems[0];
}

const timeSlicing = (sharing: Record<string, unknown>) => ({ mode: "manifest", sharing: { strategy: "timeSlicing", replicas: 4, ...sharing } });

describe("devicePlugin.image", () => {
    it("defaults to NVIDIA's v0.20.0 image and accepts image references", () => {
        assert.equal(plugin({}).image, "nvcr.io/nvidia/k8s-device-plugin:v0.20.0");
        for (const i of ["nvcr.io/nvidia/k8s-device-plugin:v0.19.2", "registry.local:5000/mirror/k8s-device-plugin:v0.20.0",
            `nvcr.io/nvidia/k8s-device-plugin@sha256:${"b".repeat(64)}`]) {
            assert.equal(plugin({ mode: "manifest", image: i }).image, i);
        }
    });
    it("rejects invalid and hostile values, naming the key", () => {
        for (const i of ["NVCR.io/x", "x:", "x/../y", 42, ...HOSTILE]) assertRejected({ mode: "manifest", image: i }, "image", i);
    });
});

describe("devicePlugin.sharing", () => {
    it("defaults: no sharing, renameByDefault false, failRequestsGreaterThanOne true", () => {
        assert.deepEqual(plugin({}).sharing, { strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true });
    });

    it("timeSlicing in manifest mode with replicas (numeric and boolean strings accepted)", () => {
        assert.deepEqual(plugin(timeSlicing({ replicas: "8", renameByDefault: "true", failRequestsGreaterThanOne: "false" })).sharing,
            { strategy: "timeSlicing", replicas: 8, renameByDefault: true, failRequestsGreaterThanOne: false });
        for (const r of [2, 64]) assert.equal(plugin(timeSlicing({ replicas: r })).sharing.replicas, r);
    });

    it("strategy: hostile and unknown values rejected naming the key", () => {
        for (const s of ["timeslicing", "time-slicing", "TimeSlicing", 1, true, ...HOSTILE]) {
            assertRejected({ mode: "manifest", sharing: { strategy: s, replicas: 4 } }, "sharing.strategy", s);
        }
    });

    it("strategy mps is rejected with the reason", () => {
        const p = assertRejected({ mode: "manifest", sharing: { strategy: "mps", replicas: 4 } }, "sharing.strategy", "mps");
        assert.match(p, /MPS is out of scope/);
        assert.match(p, /control-daemon/);
        assert.match(p, /Use "timeSlicing"/);
    });

    it("timeSlicing with mode addon says to use manifest", () => {
        const p = assertRejected({ sharing: { strategy: "timeSlicing", replicas: 4 } }, "sharing.strategy", "timeSlicing");
        assert.match(p, /devicePlugin\.mode is "addon"/);
        assert.match(p, /pulumi config set --path devicePlugin\.mode manifest/);
    });

    it("replicas: required for timeSlicing, an integer 2..64; hostile values rejected", () => {
        const missing = problemsOf({ mode: "manifest", sharing: { strategy: "timeSlicing" } });
        assert.equal(missing.length, 1, missing.join("\n"));
        assert.match(missing[0], /^gpu-minikube:devicePlugin\.sharing\.replicas: found nothing; expected .*required when devicePlugin\.sharing\.strategy is "timeSlicing"/);
        for (const r of [0, 1, 65, 2.5, -4, "four", "1e3", null, ...HOSTILE]) {
            assertRejected(timeSlicing({ replicas: r }), "sharing.replicas", r);
        }
    });

    it("replicas is ignored with strategy none, so going back is one setting", () => {
        assert.deepEqual(plugin({ mode: "manifest", sharing: { strategy: "none", replicas: 4 } }).sharing,
            { strategy: "none", replicas: 4, renameByDefault: false, failRequestsGreaterThanOne: true });
    });

    it("renameByDefault / failRequestsGreaterThanOne: booleans; hostile values rejected", () => {
        for (const key of ["renameByDefault", "failRequestsGreaterThanOne"]) {
            for (const v of ["yes", 1, "TRUE", ...HOSTILE]) assertRejected(timeSlicing({ [key]: v }), `sharing.${key}`, v);
        }
    });

    it("unknown keys and non-objects are rejected", () => {
        const unknown = problemsOf(timeSlicing({ replica: 3 }));
        assert.equal(unknown.length, 1, unknown.join("\n"));
        assert.match(unknown[0], /^gpu-minikube:devicePlugin\.sharing\.replica: unknown key \(found 3\); known keys here: strategy, replicas, renameByDefault, failRequestsGreaterThanOne/);
        assertRejected({ mode: "manifest", sharing: "timeSlicing" }, "sharing", "timeSlicing");
        const top = problemsOf({ mod: "manifest" });
        assert.match(top[0], /^gpu-minikube:devicePlugin\.mod: unknown key .*known keys here: mode, timeoutSeconds, image, sharing\./);
    });
});

describe("verification.gpus with sharing", () => {
    const both = (devicePlugin: unknown, verification: unknown) => () =>
        resolveConfig({ devicePlugin: JSON.stringify(devicePlugin), verification: JSON.stringify(verification) });

    it("above 1 with timeSlicing is an error naming both keys (it would be silently ignored)", () => {
        for (const [gpus, fail] of [[2, true], [8, false]] as const) {
            let problems: string[] = [];
            try {
                both(timeSlicing({ failRequestsGreaterThanOne: fail }), { gpus })();
                assert.fail("accepted");
            } catch (err) {
                assert.ok(err instanceof ConfigError, String(err));
                problems = err.problems;
            }
            assert.equal(problems.length, 1, problems.join("\n"));
            assert.match(problems[0], new RegExp(`^gpu-minikube:verification\\.gpus: found ${gpus}, but devicePlugin\\.sharing\\.strategy is "timeSlicing"`));
            assert.match(problems[0], /pulumi config rm --path verification\.gpus/);
            assert.match(problems[0], fail ? /failRequestsGreaterThanOne is true/ : /replicas of the same physical GPU/);
        }
    });

    it("1 with timeSlicing, and any count without sharing, are accepted", () => {
        assert.equal(both(timeSlicing({}), { gpus: 1 })().verification.gpus, 1);
        assert.equal(both({ mode: "manifest", sharing: { strategy: "none", replicas: 4 } }, { gpus: 2 })().verification.gpus, 2);
        assert.equal(both({ mode: "manifest" }, { gpus: 4 })().verification.gpus, 4);
    });
});
