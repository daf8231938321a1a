// cluster.mode and the keys that depend on it (components/clusterModes.ts, components/kubeconfig.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, defaultConfig, resolveConfig } from "../components/config";
import { inspectKubeconfig } from "../components/kubeconfig";

const TOKEN = "s3cr3t-token-do-not-print";
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: Q0EtREFUQS1TRUNSRVQ=
- name: lab
  cluster:
    server: https://lab.example:6443
contexts:
- name: prod-admin
  context: {cluster: prod, user: admin}
- name: lab-admin
  context: {cluster: lab, user: admin}
current-context: prod-admin
users:
- name: admin
  user:
    token: ${TOKEN}
`;

const existing = (cluster: Record<string, unknown> = {}, rest: Record<string, unknown> = {}) => ({
    cluster: JSON.stringify({ mode: "existing", kubeconfig: KUBECONFIG, ...cluster }),
    ...Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
});

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        resolveConfig(raw);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        for (const p of err.problems) assert.ok(!p.includes(TOKEN) && !p.includes("Q0EtREFUQS1TRUNSRVQ"), `leaks the kubeconfig: ${p}`);
        assert.ok(!err.message.includes(TOKEN));
        return err.problems;
    }
    assert.fail(`config was accepted: ${JSON.stringify(raw).slice(0, 200)}`);
}

describe("cluster.mode", () => {
    it("defaults to minikube, with the addon", () => {
        const cfg = resolveConfig({});
        assert.equal(cfg.cluster.mode, "minikube");
        assert.equal(cfg.devicePlugin.mode, "addon");
    });

    it("existing: accepts a kubeconfig, defaults devicePlugin.mode to none", () => {
        const cfg = resolveConfig(existing());
        assert.equal(cfg.cluster.mode, "existing");
        assert.equal(cfg.cluster.kubeconfig, KUBECONFIG);
        assert.equal(cfg.devicePlugin.mode, "none");
    });

    it("existing: the defaults the Pulumi CLI injects from Pulumi.yaml for unset keys are not the user's settings", () => {
        // pulumi/sdk workspace.ApplyProjectConfig: every key the stack lacks arrives with its declared default.
        const d = defaultConfig();
        const injected = { profile: d.profile, minikube: d.minikube, hostPrep: d.hostPrep, devicePlugin: d.devicePlugin, verification: d.verification };
        const cfg = resolveConfig(existing({}, injected));
        assert.equal(cfg.devicePlugin.mode, "none", "the injected addon default is not an explicit choice");
    });

    it("existing: minikube.*, hostPrep.* and profile are errors naming the mode and each key", () => {
        const problems = problemsOf(existing({}, {
            profile: "lab", minikube: { cpus: 8, memory: "16g" }, hostPrep: { installToolkit: false },
        }));
        assert.equal(problems.length, 4, problems.join("\n"));
        for (const key of ["profile", "minikube.cpus", "minikube.memory", "hostPrep.installToolkit"]) {
            const p = problems.find((x) => x.startsWith(`gpu-minikube:${key}: `));
            assert.ok(p, `${key} not named in:\n${problems.join("\n")}`);
            assert.match(p, /cluster\.mode is "existing"/);
        }
        assert.ok(problems.some((p) => p.includes("pulumi config rm --path minikube.cpus")));
    });

    it("existing: devicePlugin.mode addon is an error; none is accepted", () => {
        const problems = problemsOf(existing({}, { devicePlugin: { mode: "addon" } }));
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0], /^gpu-minikube:devicePlugin\.mode: found "addon".*cluster\.mode "minikube".*"none"/);
        assert.equal(resolveConfig(existing({}, { devicePlugin: { mode: "none" } })).devicePlugin.mode, "none");
        const unused = problemsOf(existing({}, { devicePlugin: { mode: "none", timeoutSeconds: 60 } }));
        assert.match(unused[0], /^gpu-minikube:devicePlugin\.timeoutSeconds: is set, but with cluster\.mode "existing" and devicePlugin\.mode "none"/);
    });

    it("existing: verification.image may be a digest (the nodes pull it); minikube still refuses one", () => {
        const pinned = `nvidia/cuda@sha256:${"a".repeat(64)}`;
        assert.equal(resolveConfig(existing({}, { verification: { image: pinned } })).verification.image, pinned);
        const problems = problemsOf({ verification: JSON.stringify({ image: pinned }) });
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0], /^gpu-minikube:verification\.image: found .*; expected a tag, not a digest: .*accepted with cluster\.mode "existing"/);
    });

    it("existing: compute workloads and their images are errors (each node runs nvidia-smi only); the injected defaults are not", () => {
        const problems = problemsOf(existing({}, { verification: { workloads: ["nvidia-smi", "vectorAdd"], images: { nbody: "nvcr.io/nvidia/k8s/cuda-sample:nbody-cuda11.7.1" } } }));
        assert.equal(problems.length, 2, problems.join("\n"));
        assert.match(problems[0], /^gpu-minikube:verification\.workloads: found \["nvidia-smi","vectorAdd"\], but with cluster\.mode "existing" each GPU node runs the nvidia-smi check only \(vectorAdd run/);
        assert.match(problems[1], /^gpu-minikube:verification\.images: is set, but with cluster\.mode "existing"/);
        assert.deepEqual(resolveConfig(existing({}, { verification: { workloads: ["nvidia-smi"], gpus: 2 } })).verification.workloads, ["nvidia-smi"]);
        assert.equal(resolveConfig(existing({}, { verification: { gpus: 2 } })).verification.gpus, 2);
    });

    it("existing: devicePlugin.mode manifest is accepted with its keys (image, sharing, timeoutSeconds)", () => {
        const cfg = resolveConfig(existing({}, { devicePlugin: {
            mode: "manifest", timeoutSeconds: 120, image: "nvcr.io/nvidia/k8s-device-plugin:v0.20.0",
            sharing: { strategy: "timeSlicing", replicas: 4 },
        } }));
        assert.equal(cfg.devicePlugin.mode, "manifest");
        assert.equal(cfg.devicePlugin.timeoutSeconds, 120);
        assert.equal(cfg.devicePlugin.sharing.replicas, 4);
    });

    it("existing: the kubeconfig is required", () => {
        const problems = problemsOf({ cluster: JSON.stringify({ mode: "existing" }) });
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0], /^gpu-minikube:cluster\.kubeconfig: is required when cluster\.mode is "existing"/);
        assert.match(problems[0], /pulumi config set --secret --path cluster\.kubeconfig/);
    });

    it("existing: a bad kubeconfig or context is named without quoting the kubeconfig", () => {
        assert.match(problemsOf(existing({ kubeconfig: `token: ${TOKEN}\n  : : [` }))[0], /^gpu-minikube:cluster\.kubeconfig: the kubeconfig is not valid YAML \(first error at line/);
        assert.match(problemsOf(existing({ kubeconfig: `users: [{token: ${TOKEN}}]` }))[0], /^gpu-minikube:cluster\.kubeconfig: the kubeconfig lists no contexts/);
        const ctx = problemsOf(existing({ context: "nope" }));
        assert.match(ctx[0], /^gpu-minikube:cluster\.context: the kubeconfig context "nope" is not in the kubeconfig; its contexts: prod-admin, lab-admin/);
        const noCurrent = problemsOf(existing({ kubeconfig: KUBECONFIG.replace("current-context: prod-admin\n", "") }));
        assert.match(noCurrent[0], /^gpu-minikube:cluster\.context: the kubeconfig sets no current-context; set gpu-minikube:cluster\.context to one of: prod-admin, lab-admin/);
        const noServer = problemsOf(existing({ kubeconfig: KUBECONFIG.replace("server: https://lab.example:6443", "insecure: true"), context: "lab-admin" }));
        assert.match(noServer[0], /cluster "lab" has no API server URL/);
        // Type errors and mistyped keys under `cluster` never print the value either.
        assert.match(problemsOf({ cluster: JSON.stringify({ mode: "existing", kubeconfig: 42 }) })[0], /found a value \(secret, not shown\)/);
        assert.match(problemsOf(existing({ kubeconfg: KUBECONFIG }))[0], /^gpu-minikube:cluster\.kubeconfg: unknown key \(found a value \(secret, not shown\)\)/);
        assert.doesNotMatch(problemsOf({ cluster: `{"kubeconfig": "${TOKEN}` })[0], new RegExp(TOKEN));
    });

    it("context: a kube context name; hostile strings rejected", () => {
        assert.equal(resolveConfig(existing({ context: "lab-admin" })).cluster.context, "lab-admin");
        for (const c of ["a b", "$(id)", "a;b", "`x`", "a\nb", ""]) {
            const problems = problemsOf(existing({ context: c }));
            assert.ok(problems.some((p) => p.startsWith("gpu-minikube:cluster.context: found ")), problems.join("\n"));
        }
    });

    it("mode: only minikube or existing", () => {
        const problems = problemsOf({ cluster: JSON.stringify({ mode: "kind" }) });
        assert.match(problems[0], /^gpu-minikube:cluster\.mode: found "kind"; expected one of "minikube", "existing"/);
    });

    it("minikube: existing-only keys are errors naming cluster.mode", () => {
        const problems = problemsOf({
            cluster: JSON.stringify({ kubeconfig: KUBECONFIG, context: "prod-admin" }),
            verification: JSON.stringify({ nodeSelector: { "pool": "gpu" } }),
            devicePlugin: JSON.stringify({ mode: "none" }),
        });
        assert.equal(problems.length, 4, problems.join("\n"));
        for (const key of ["cluster.kubeconfig", "cluster.context", "verification.nodeSelector", "devicePlugin.mode"]) {
            const p = problems.find((x) => x.startsWith(`gpu-minikube:${key}: `));
            assert.ok(p, `${key} missing:\n${problems.join("\n")}`);
            assert.match(p, /cluster\.mode "existing"/);
        }
    });
});

describe("verification.nodeSelector and parallelism", () => {
    it("accepts label maps and rejects hostile keys and values", () => {
        const sel = { "nvidia.com/gpu.present": "true", "cloud.google.com/gke-nodepool": "gpu-pool", pool: "" };
        assert.deepEqual(resolveConfig(existing({}, { verification: { nodeSelector: sel } })).verification.nodeSelector, sel);
        for (const [k, v] of [["a b", "x"], ["x", "a,b"], ["x", "$(id)"], ["-x", "y"], ["x=y", "z"], ["x", "a".repeat(64)], ["x", "a\nb"]]) {
            const problems = problemsOf(existing({}, { verification: { nodeSelector: { [k]: v } } }));
            assert.ok(problems.some((p) => p.startsWith("gpu-minikube:verification.nodeSelector")), `${k}=${v}: ${problems.join("\n")}`);
        }
    });
    it("parallelism: integer 1..256", () => {
        assert.equal(resolveConfig(existing({}, { verification: { parallelism: 50 } })).verification.parallelism, 50);
        assert.ok(problemsOf(existing({}, { verification: { parallelism: 0 } }))[0].startsWith("gpu-minikube:verification.parallelism: "));
    });
});

describe("inspectKubeconfig", () => {
    it("uses current-context by default and leaves the text untouched", () => {
        const r = inspectKubeconfig(KUBECONFIG);
        assert.ok(r.ok);
        assert.deepEqual(r.target, { context: "prod-admin", cluster: "prod", server: "https://10.0.0.1:6443" });
        assert.equal(r.effective, KUBECONFIG);
    });
    it("a chosen context becomes current-context of the text handed to kubectl", () => {
        const r = inspectKubeconfig(KUBECONFIG, "lab-admin");
        assert.ok(r.ok);
        assert.equal(r.target.server, "https://lab.example:6443");
        assert.match(r.effective, /^current-context: lab-admin$/m);
        assert.ok(r.effective.includes(TOKEN), "everything else is kept");
    });
});
