import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import Ajv2020 from "ajv/dist/2020";
import { parse as parseYaml } from "yaml";
import { CONFIG_KEYS, ConfigError, defaultConfig, resolveConfig } from "../components/config";

const ROOT = path.resolve(__dirname, "..");
const PROJECT_SCHEMA = path.resolve(ROOT, "..", "shared", "schemas", "pulumi-project.schema.json");

/** The problems resolveConfig reports for RAW (fails the test when it accepts RAW). */
function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        resolveConfig(raw);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail(`config was accepted: ${JSON.stringify(raw)}`);
}

function assertOneProblem(raw: Record<string, unknown>, key: string, found: string): void {
    const problems = problemsOf(raw);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.ok(problems[0].startsWith(`gpu-minikube:${key}: `), problems[0]);
    assert.ok(problems[0].includes(found), `${problems[0]} should quote ${found}`);
}

const HOSTILE = [
    "a;rm -rf /", "$(reboot)", "`id`", "a'b", "a\"b", "a\nb", "a b", "gpü", "a|b", "a&&b", "a>b", "",
];

describe("defaults", () => {
    it("are what the README and Pulumi.yaml promise", () => {
        assert.deepEqual(defaultConfig(), {
            cluster: { mode: "minikube" },
            profile: "gpu-minikube",
            minikube: {
                driver: "docker", gpus: "all", cpus: 4, memory: "8g", kubernetesVersion: "stable",
                addons: ["ingress"], startTimeoutSeconds: 600, recreateIfIncompatible: false, force: false,
            },
            hostPrep: { installToolkit: true, configureDocker: true, timeoutSeconds: 180 },
            devicePlugin: {
                mode: "addon", timeoutSeconds: 300, image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
                sharing: { strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true },
            },
            verification: {
                image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 600, runId: "", alwaysRerun: false,
                workloads: ["nvidia-smi", "vectorAdd"],
                images: {
                    vectorAdd: "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0",
                    nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody-cuda11.7.1",
                },
                nodeSelector: {}, parallelism: 16,
            },
        });
    });

    it("equal the defaults Pulumi.yaml declares, key by key", () => {
        const project = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
            config: Record<string, { default: unknown }>;
        };
        assert.deepEqual(Object.keys(project.config).sort(), [...CONFIG_KEYS].sort());
        const declared = Object.fromEntries(Object.entries(project.config).map(([k, v]) => [k, v.default]));
        assert.deepEqual(declared, defaultConfig());
    });

    it("fill in fields missing from a partly set object", () => {
        const cfg = resolveConfig({ minikube: JSON.stringify({ cpus: 8 }) });
        assert.equal(cfg.minikube.cpus, 8);
        assert.equal(cfg.minikube.gpus, "all");
        assert.deepEqual(cfg.minikube.addons, ["ingress"]);
    });
});

describe("Pulumi.yaml and Pulumi.dev.yaml", () => {
    it("Pulumi.yaml validates against Pulumi's project schema", (t) => {
        if (!fs.existsSync(PROJECT_SCHEMA)) {
            t.skip(`${PROJECT_SCHEMA} not present`);
            return;
        }
        const ajv = new Ajv2020({ strict: false, allErrors: true });
        const validate = ajv.compile(JSON.parse(fs.readFileSync(PROJECT_SCHEMA, "utf8")));
        const project: unknown = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        assert.ok(validate(project), JSON.stringify(validate.errors, null, 2));
        const bad = { ...(project as object), runtime: 42 };
        assert.equal(validate(bad), false, "the schema check must be able to fail");
    });

    it("declares the nodejs runtime, TypeScript and a local backend", () => {
        const project = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.name, "gpu-minikube");
        assert.equal(project.runtime.name, "nodejs");
        assert.equal(project.runtime.options.typescript, true);
        assert.match(project.backend.url, /^file:\/\//);
    });

    it("the dev stack's config is valid", () => {
        const stack = parseYaml(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        const raw = Object.fromEntries(Object.entries(stack.config).map(([k, v]) => {
            assert.ok(k.startsWith("gpu-minikube:"), k);
            return [k.slice("gpu-minikube:".length), typeof v === "object" ? JSON.stringify(v) : v];
        }));
        assert.doesNotThrow(() => resolveConfig(raw));
    });
});

describe("profile", () => {
    it("accepts valid names", () => {
        for (const p of ["gpu-minikube", "a", "lab-2", "x".repeat(40)]) assert.equal(resolveConfig({ profile: p }).profile, p);
    });
    it("rejects invalid and hostile names", () => {
        for (const p of ["Upper", "-lead", "trail-", "x".repeat(41), "a.b", "a_b", ...HOSTILE]) {
            assertOneProblem({ profile: p }, "profile", JSON.stringify(p).slice(0, 20));
        }
    });
});

describe("minikube", () => {
    const set = (v: Record<string, unknown>) => resolveConfig({ minikube: JSON.stringify(v) }).minikube;
    const bad = (v: Record<string, unknown>, key: string) =>
        assertOneProblem({ minikube: JSON.stringify(v) }, `minikube.${key}`, JSON.stringify(v[key]).slice(0, 20));

    it("driver: docker only", () => {
        assert.equal(set({ driver: "docker" }).driver, "docker");
        for (const d of ["kvm2", "none", "podman", ...HOSTILE]) bad({ driver: d }, "driver");
    });
    it("gpus: all | nvidia | nvidia.com", () => {
        for (const g of ["all", "nvidia", "nvidia.com"]) assert.equal(set({ gpus: g }).gpus, g);
        for (const g of ["amd", "ALL", "1", ...HOSTILE]) bad({ gpus: g }, "gpus");
    });
    it("cpus: integer 2..256 (numeric strings accepted)", () => {
        assert.equal(set({ cpus: 2 }).cpus, 2);
        assert.equal(set({ cpus: "16" }).cpus, 16);
        for (const c of [1, 257, 2.5, "four", true, -4]) bad({ cpus: c }, "cpus");
    });
    it("memory: MB, with unit, max, no-limit", () => {
        for (const m of ["8g", "8192", "8192mb", "16gb", "4096m", "max", "no-limit"]) assert.equal(set({ memory: m }).memory, m);
        assert.equal(set({ memory: 16384 }).memory, "16384", "a number (from --path) means MB");
        for (const m of ["8 g", "8t", "0", "-1", "lots", ...HOSTILE]) bad({ memory: m }, "memory");
    });
    it("kubernetesVersion: stable | latest | vX.Y.Z", () => {
        for (const v of ["stable", "latest", "v1.33.1", "1.30.0"]) assert.equal(set({ kubernetesVersion: v }).kubernetesVersion, v);
        for (const v of ["v1.33", "1.x", "newest", ...HOSTILE]) bad({ kubernetesVersion: v }, "kubernetesVersion");
    });
    it("addons: list of addon names", () => {
        assert.deepEqual(set({ addons: [] }).addons, []);
        assert.deepEqual(set({ addons: ["ingress", "metrics-server"] }).addons, ["ingress", "metrics-server"]);
        bad({ addons: "ingress" }, "addons");
        for (const a of ["Ingress", ...HOSTILE]) {
            assertOneProblem({ minikube: JSON.stringify({ addons: ["ingress", a] }) }, "minikube.addons.1", JSON.stringify(a).slice(0, 10));
        }
    });
    it("startTimeoutSeconds: integer 30..3600", () => {
        assert.equal(set({ startTimeoutSeconds: 30 }).startTimeoutSeconds, 30);
        for (const t of [29, 3601, "soon"]) bad({ startTimeoutSeconds: t }, "startTimeoutSeconds");
    });
    it("recreateIfIncompatible: boolean", () => {
        assert.equal(set({ recreateIfIncompatible: true }).recreateIfIncompatible, true);
        assert.equal(set({ recreateIfIncompatible: "false" }).recreateIfIncompatible, false);
        for (const b of ["yes", 1]) bad({ recreateIfIncompatible: b }, "recreateIfIncompatible");
    });
    it("force: boolean, off unless set", () => {
        assert.equal(set({}).force, false);
        assert.equal(set({ force: "true" }).force, true);
        for (const b of ["yes", 1]) bad({ force: b }, "force");
    });
});

describe("hostPrep", () => {
    const bad = (v: Record<string, unknown>, key: string) =>
        assertOneProblem({ hostPrep: JSON.stringify(v) }, `hostPrep.${key}`, JSON.stringify(v[key]));
    it("installToolkit / configureDocker: booleans", () => {
        const cfg = resolveConfig({ hostPrep: JSON.stringify({ installToolkit: false, configureDocker: "false" }) }).hostPrep;
        assert.equal(cfg.installToolkit, false);
        assert.equal(cfg.configureDocker, false);
        bad({ installToolkit: "no" }, "installToolkit");
        bad({ configureDocker: 0 }, "configureDocker");
    });
    it("timeoutSeconds: integer 10..1800", () => {
        assert.equal(resolveConfig({ hostPrep: JSON.stringify({ timeoutSeconds: 10 }) }).hostPrep.timeoutSeconds, 10);
        for (const t of [9, 1801, 1.5]) bad({ timeoutSeconds: t }, "timeoutSeconds");
    });
});

describe("devicePlugin", () => {
    it("mode: addon | manifest", () => {
        for (const m of ["addon", "manifest"]) assert.equal(resolveConfig({ devicePlugin: JSON.stringify({ mode: m }) }).devicePlugin.mode, m);
        const problems = problemsOf({ devicePlugin: JSON.stringify({ mode: "helm" }) });
        assert.match(problems[0], /^gpu-minikube:devicePlugin\.mode: found "helm"; expected "addon" .*"manifest"/);
        for (const m of HOSTILE) assertOneProblem({ devicePlugin: JSON.stringify({ mode: m }) }, "devicePlugin.mode", JSON.stringify(m).slice(0, 5));
    });
    it("timeoutSeconds: integer 10..3600", () => {
        assert.equal(resolveConfig({ devicePlugin: JSON.stringify({ timeoutSeconds: 3600 }) }).devicePlugin.timeoutSeconds, 3600);
        assertOneProblem({ devicePlugin: JSON.stringify({ timeoutSeconds: 5 }) }, "devicePlugin.timeoutSeconds", "5");
    });
});

describe("verification", () => {
    const set = (v: Record<string, unknown>) => resolveConfig({ verification: JSON.stringify(v) }).verification;
    const bad = (v: Record<string, unknown>, key: string) =>
        assertOneProblem({ verification: JSON.stringify(v) }, `verification.${key}`, JSON.stringify(v[key]).slice(0, 20));
    it("image: Docker references", () => {
        for (const i of ["nvidia/cuda:12.5.0-base-ubuntu22.04", "registry.local:5000/team/cuda:12.4", "nvcr.io/nvidia/cuda:12.6.0-base-ubuntu24.04",
            "ubuntu"]) {
            assert.equal(set({ image: i }).image, i);
        }
        for (const i of ["NVIDIA/cuda", "cuda:", "cuda:tag with space", "x/../y", ...HOSTILE]) bad({ image: i }, "image");
    });
    it("image: a digest is refused, with the reason (minikube image load drops it)", () => {
        for (const i of [`nvidia/cuda@sha256:${"a".repeat(64)}`, `nvidia/cuda:12.5.0-base-ubuntu22.04@sha256:${"b".repeat(64)}`]) {
            const problems = problemsOf({ verification: JSON.stringify({ image: i }) });
            assert.equal(problems.length, 1, problems.join("\n"));
            assert.match(problems[0], /^gpu-minikube:verification\.image: found .*; expected a tag, not a digest: 'minikube image load' does not keep an image's registry digest/);
        }
    });
    it("alwaysRerun: boolean, default false", () => {
        assert.equal(set({}).alwaysRerun, false);
        assert.equal(set({ alwaysRerun: true }).alwaysRerun, true);
        assert.equal(set({ alwaysRerun: "true" }).alwaysRerun, true);
        bad({ alwaysRerun: "always" }, "alwaysRerun");
    });
    it("gpus: integer 1..64", () => {
        assert.equal(set({ gpus: 2 }).gpus, 2);
        for (const g of [0, 65, "all"]) bad({ gpus: g }, "gpus");
    });
    it("timeoutSeconds: integer 30..3600", () => {
        assert.equal(set({ timeoutSeconds: 120 }).timeoutSeconds, 120);
        bad({ timeoutSeconds: 10 }, "timeoutSeconds");
    });
    it("workloads: an ordered, non-empty list of known workloads, each once", () => {
        assert.deepEqual(set({ workloads: ["nvidia-smi", "nbody"] }).workloads, ["nvidia-smi", "nbody"]);
        assert.deepEqual(set({ workloads: ["nvidia-smi", "nbody", "vectorAdd"] }).workloads, ["nvidia-smi", "nbody", "vectorAdd"]);
        assert.deepEqual(set({ workloads: ["nvidia-smi", "vectorAdd", "nbody"] }).workloads, ["nvidia-smi", "vectorAdd", "nbody"]);
        assertOneProblem({ verification: JSON.stringify({ workloads: ["nvidia-smi", "matmul"] }) }, "verification.workloads.1", "\"matmul\"");
        for (const w of [[], ["nvidia-smi", "vectorAdd", "vectorAdd"], ["vectorAdd", "nvidia-smi"], ["nbody"], "vectorAdd", [1]]) {
            const problems = problemsOf({ verification: JSON.stringify({ workloads: w }) });
            assert.equal(problems.length, 1, problems.join("\n"));
            assert.match(problems[0], /^gpu-minikube:verification\.workloads(\.0)?: found /);
        }
        const [p] = problemsOf({ verification: JSON.stringify({ workloads: ["vectoradd"] }) });
        assert.match(p, /expected one of "nvidia-smi", "vectorAdd", "nbody"/);
    });
    it("images: per-workload Docker references, allow-listed like image", () => {
        const images = set({ images: { vectorAdd: "registry.local:5000/va:1", nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody" } }).images;
        assert.deepEqual(images, { vectorAdd: "registry.local:5000/va:1", nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody" });
        assert.equal(set({ images: { nbody: "x/nbody:2" } }).images.vectorAdd, "nvcr.io/nvidia/k8s/cuda-sample:vectoradd-cuda12.5.0");
        for (const i of ["NVIDIA/cuda", "cuda:tag with space", ...HOSTILE]) {
            assertOneProblem({ verification: JSON.stringify({ images: { vectorAdd: i } }) }, "verification.images.vectorAdd", JSON.stringify(i).slice(0, 20));
        }
        const [p] = problemsOf({ verification: JSON.stringify({ images: { "nvidia-smi": "x" } }) });
        assert.match(p, /^gpu-minikube:verification\.images\.nvidia-smi: unknown key .*known keys here: vectorAdd, nbody/);
        // A digest cannot survive `minikube image load`, as for verification.image.
        const [d] = problemsOf({ verification: JSON.stringify({ images: { nbody: `nvcr.io/nvidia/k8s/cuda-sample@sha256:${"a".repeat(64)}` } }) });
        assert.match(d, /^gpu-minikube:verification\.images\.nbody: .*a tag, not a digest/);
    });
    it("runId: empty or a short DNS label", () => {
        for (const r of ["", "2", "nightly-7"]) assert.equal(set({ runId: r }).runId, r);
        // `pulumi config set --path verification.runId "$(date +%s)"` stores a number (README).
        assert.equal(set({ runId: 1764464400 }).runId, "1764464400");
        for (const r of [-1, 1.5, 2 ** 60]) bad({ runId: r }, "runId");
        for (const r of ["UP", "-x", "x".repeat(21), ...HOSTILE.filter((h) => h !== "")]) bad({ runId: r }, "runId");
    });
});

describe("errors", () => {
    it("unknown keys are errors, top level and nested, with the keys that exist", () => {
        const problems = problemsOf({ profle: "x", minikube: JSON.stringify({ cpu: 4, gpus: "all" }) });
        assert.equal(problems.length, 2, problems.join("\n"));
        assert.ok(problems.some((p) => p.startsWith("gpu-minikube:profle: unknown key") && p.includes("profile, minikube")), problems.join("\n"));
        assert.ok(problems.some((p) => p.startsWith("gpu-minikube:minikube.cpu: unknown key") && p.includes("cpus")), problems.join("\n"));
    });

    it("lists every problem in one error", () => {
        let message = "";
        try {
            resolveConfig({
                profile: "BAD",
                minikube: JSON.stringify({ gpus: "amd", cpus: 1 }),
                verification: JSON.stringify({ image: "$(x)", gpus: 0 }),
            });
        } catch (err) {
            message = (err as Error).message;
        }
        assert.match(message, /^Invalid gpu-minikube configuration \(5 problems\):/);
        for (const key of ["profile", "minikube.gpus", "minikube.cpus", "verification.image", "verification.gpus"]) {
            assert.ok(message.includes(`gpu-minikube:${key}:`), `${key} missing from:\n${message}`);
        }
        assert.ok(message.includes("pulumi config set --path minikube.gpus"), "names the fix");
    });

    it("object keys that are not JSON objects, or not JSON at all", () => {
        assert.match(problemsOf({ hostPrep: "{oops" })[0], /^gpu-minikube:hostPrep: found "\{oops", which is not valid JSON/);
        assert.match(problemsOf({ minikube: "fast" })[0], /^gpu-minikube:minikube: found "fast"; expected an object/);
    });
});
