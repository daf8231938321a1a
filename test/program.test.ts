// The whole program under Pulumi's mocks: the resource graph, how inputs reach scripts, secrets,
// the explicit Kubernetes provider, the Job spec and the shape of every stack output.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Job } from "kubernetes-models/batch/v1";
import { Namespace } from "kubernetes-models/v1";
import { rerunToken } from "../components/gpuVerification";
import { hostFactsToken } from "../components/hostFacts";
import { verificationJobName, verificationNamespace } from "../components/verificationJob";
import { output, Program, programMocks, scriptOf } from "./harness/programMocks";

const FIXTURES = path.join(__dirname, "fixtures", "nvidia-smi");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const POD_LOG = fs.readFileSync(path.join(FIXTURES, "smi-combined.txt"), "utf8");
const SAMPLES = path.join(__dirname, "fixtures", "cuda-samples");
const VECTORADD_LOG = fs.readFileSync(path.join(SAMPLES, "vectoradd-h200-sm90.txt"), "utf8");
// A run whose sample printed its own warnings (an SM it does not know): `up` shows them.
const NBODY_LOG = fs.readFileSync(path.join(SAMPLES, "nbody-rtx4090-sm89-unknown-partial.txt"), "utf8");

// Distinctive config values, so a test can prove none of them is pasted into a command string.
const CONFIG = {
    profile: "lab-42",
    minikube: { cpus: 6, memory: "12g", kubernetesVersion: "v1.33.1", addons: ["ingress", "metrics-server"] },
    hostPrep: { timeoutSeconds: 77 },
    devicePlugin: { timeoutSeconds: 99 },
    verification: {
        image: "registry.example:5000/team/cuda:12.5.0-probe", gpus: 1, timeoutSeconds: 321, runId: "run-7",
        workloads: ["nvidia-smi", "nbody", "vectorAdd"],
        images: { vectorAdd: "registry.example:5000/team/va:probe", nbody: "registry.example:5000/team/nbody:probe" },
    },
};

/** What each script "printed" under the mocks: its JSON summary line. */
const SCRIPT_STDOUT: Record<string, unknown> = {
    "preflight.sh": {
        stage: "preflight", driverVersion: "580.159.04", cudaVersion: "13.0",
        gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }], dockerVersion: "28.2.2", dockerDesktop: false,
        wsl2: false, minikubeVersion: "v1.37.0", toolkitInstalled: false, nvidiaRuntime: false, bpfJitHarden: 0, warnings: [],
    },
    "install-toolkit.sh": { stage: "toolkit", changed: true, skipped: false, version: "1.20.0", installedAt: 1764460800 },
    "configure-docker-runtime.sh": {
        stage: "docker-runtime", changed: true, restarted: true, skipped: false,
        daemonJson: "/etc/docker/daemon.json", backup: "/var/lib/gpu-minikube/docker/daemon.json.before",
    },
    "docker-gpu-check.sh": { stage: "docker-gpu-check", exitCode: 0, image: CONFIG.verification.image, log: POD_LOG },
    "minikube-start.sh": {
        stage: "cluster", profile: "lab-42", action: "created", minikubeVersion: "v1.37.0", kubernetesVersion: "v1.33.1",
        apiServer: "https://192.168.49.2:8443", kubeconfig: "apiVersion: v1\nkind: Config\nclusters: []\n",
    },
    "device-plugin.sh": { stage: "device-plugin", mode: "addon", enabledByUs: false, gpuAllocatable: { "lab-42": 1 } },
    "minikube-image-load.sh": { stage: "image-load", image: CONFIG.verification.image, loaded: true },
    "verification-wait.sh": {
        stage: "verification", jobName: "x", succeeded: true, pod: "x-abcde", node: "lab-42", log: POD_LOG,
        failure: null, jobDeleted: false, verifiedAt: "2026-11-30T01:00:00Z",
    },
    "verification-gate.sh": { stage: "verification-gate", passed: true },
};

/** What each read-only probe (an invoke) "printed". */
const PROBE_STDOUT: Record<string, unknown> = {
    "minikube-observe.sh": { state: "Running", token: "tok-1" },
    "host-facts.sh": { driverVersion: "580.159.04", gpuUuids: [H200_UUID], error: null },
    "verification-observe.sh": { failedAttempts: 0 },
    "docker-endpoint.sh": { stage: "docker-endpoint", dockerHost: "unix:///run/user/1000/docker.sock", reachable: true },
};
const JOB_UID = "0c8b7a4e-1f2d-4e5a-9b6c-7d8e9f0a1b2c";

const mocks = programMocks({
    config: CONFIG,
    scriptStdout: SCRIPT_STDOUT,
    probeStdout: PROBE_STDOUT,
    // Each workload's wait step reads its own Job's log.
    jobStdout: (job) => {
        const sampleLog = job.startsWith("gpu-verify-vectoradd-") ? VECTORADD_LOG : job.startsWith("gpu-verify-nbody-") ? NBODY_LOG : null;
        if (sampleLog === null) return undefined;
        return { ...(SCRIPT_STDOUT["verification-wait.sh"] as object), jobName: job, log: sampleLog,
            startedAt: "2026-11-30T01:00:00Z", finishedAt: "2026-11-30T01:00:03Z" };
    },
    jobUid: JOB_UID,
    resourceState: { "docker:index/remoteImage:RemoteImage": { imageId: "sha256:0123", repoDigest: "nvidia/cuda@sha256:abcd" } },
    // The gate is registered once the verification result is known: wait for its registration too.
    settleOn: "gpu-verification-gate",
});
const { registered, invokes, find, command } = mocks;
let program: Program;
/** What the program printed as warnings (under the mocks, pulumi.log.warn writes them to console.warn). */
const warnings: string[] = [];

before(async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(" ")); };
    try {
        program = await mocks.run();
    } finally {
        console.warn = warn;
    }
});

interface JobInputs {
    metadata: { name: string; namespace: string };
    spec: {
        backoffLimit: number;
        activeDeadlineSeconds: number;
        template: { spec: { restartPolicy: string; containers: Array<{ image: string; command: string[]; resources: { limits: Record<string, string> } }> } };
    };
}

describe("resource graph", () => {
    it("host prep runs preflight → toolkit → runtime → image → GPU check", () => {
        const preflight = command("host-preflight");
        const toolkit = command("host-toolkit");
        const runtime = command("host-docker-runtime");
        const image = find("docker:index/remoteImage:RemoteImage", "host-cuda-image");
        const check = command("host-docker-gpu-check");
        assert.ok(toolkit.dependencies.includes(preflight.urn));
        assert.ok(runtime.dependencies.includes(toolkit.urn));
        assert.ok(image.dependencies.includes(runtime.urn), "the image pull waits for Docker's restart");
        assert.ok(check.dependencies.includes(runtime.urn) && check.dependencies.includes(image.urn));
        assert.equal(image.inputs.keepLocally, true, "destroy must not remove an image the user may have had");
    });

    it("the image is pulled through an explicit docker provider aimed at the daemon the scripts use", () => {
        const provider = find("pulumi:providers:docker", "host-docker");
        const image = find("docker:index/remoteImage:RemoteImage", "host-cuda-image");
        assert.ok(image.provider.startsWith(`${provider.urn}::`), `image provider ${image.provider}`);
        assert.equal(provider.inputs.host, "unix:///run/user/1000/docker.sock", "the endpoint docker-endpoint.sh reported");
        assert.ok(provider.dependencies.includes(command("host-preflight").urn), "configured only after preflight");
    });

    it("the runtime step knows its stack (users record), the --gpus value and whether this run installed the toolkit", () => {
        const env = command("host-docker-runtime").inputs.environment as Record<string, string>;
        assert.match(env.GM_OWNER, /^gpu-minikube\.test\.[0-9a-f]{8}$/);
        assert.equal(env.GM_MINIKUBE_GPUS, "all");
        assert.equal(env.GM_TOOLKIT_INSTALLED_AT, "1764460800");
        assert.equal((command("host-docker-gpu-check").inputs.environment as Record<string, string>).GM_MINIKUBE_GPUS, "all");
        assert.equal((command("host-preflight").inputs.environment as Record<string, string>).GM_MINIKUBE_FORCE, "false");
        assert.equal((command("cluster-start").inputs.environment as Record<string, string>).GM_MINIKUBE_FORCE, "false");
    });

    it("stages run in order: host prep → cluster → device plugin → verification", () => {
        const start = command("cluster-start");
        const plugin = command("device-plugin-addon");
        const load = command("gpu-verification-image-load");
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-job");
        const wait = command("gpu-verification-wait");
        assert.ok(start.dependencies.includes(command("host-docker-gpu-check").urn));
        assert.ok(plugin.dependencies.includes(start.urn));
        assert.ok(load.dependencies.includes(plugin.urn));
        assert.ok(job.dependencies.includes(plugin.urn) && job.dependencies.includes(load.urn));
        assert.ok(wait.dependencies.includes(job.urn), "the log is read only after the Job");
    });

    it("components carry the documented type tokens", () => {
        for (const token of ["gpu-minikube:host:HostPrep", "gpu-minikube:cluster:MinikubeCluster",
            "gpu-minikube:gpu:DevicePlugin", "gpu-minikube:gpu:GpuVerification", "gpu-minikube:gpu:WorkloadImages"]) {
            const inUrns = registered.some((r) => r.urn.includes(`${token}$`));
            assert.ok(inUrns, `${token} is not a parent of any resource`);
        }
    });
});

describe("host commands", () => {
    const commands = () => registered.filter((r) => r.type === "command:local:Command");

    it("every command is a fixed script call; no config value is inside a command string", () => {
        const values = [CONFIG.profile, CONFIG.verification.image, "12g", "v1.33.1", "metrics-server", "run-7", "321", "99", "77",
            CONFIG.verification.images.vectorAdd, CONFIG.verification.images.nbody];
        assert.equal(commands().length, 13);
        for (const c of commands()) {
            for (const field of ["create", "update", "delete"]) {
                if (c.inputs[field] === undefined) continue;
                scriptOf(c.inputs[field]);
                for (const v of values) assert.ok(!String(c.inputs[field]).includes(v), `${c.name}.${field} contains ${v}`);
            }
        }
    });

    it("no command stores the checkout path (no `dir`): a moved checkout is no diff and destroy still works", () => {
        for (const c of commands()) assert.equal(c.inputs.dir, undefined, `${c.name} has dir ${String(c.inputs.dir)}`);
        for (const i of invokes.filter((x) => x.token === "command:local:run")) assert.equal(i.inputs.dir, undefined);
    });

    it("only the [stage] progress lines (stderr) are shown; the probes are quiet", () => {
        for (const c of commands()) assert.equal(c.inputs.logging, "stderr", c.name);
        const probes = invokes.filter((x) => x.token === "command:local:run");
        assert.deepEqual(probes.map((p) => scriptOf(p.inputs.command)).sort(), ["docker-endpoint.sh", "host-facts.sh", "minikube-observe.sh", "verification-observe.sh"]);
        for (const p of probes) assert.equal(p.inputs.logging, "none", String(p.inputs.command));
    });

    it("the kubeconfig in the start step's stdout does not travel to its delete (PULUMI_COMMAND_STDOUT)", () => {
        assert.equal(command("cluster-start").inputs.addPreviousOutputInEnv, false);
        // device-plugin-delete.sh reads the create step's summary from PULUMI_COMMAND_STDOUT.
        assert.equal(command("device-plugin-addon").inputs.addPreviousOutputInEnv, true);
    });

    it("config values reach scripts through the environment", () => {
        const env = (name: string) => command(name).inputs.environment as Record<string, string>;
        assert.deepEqual(
            { ...env("cluster-start"), GM_SCRIPTS_SHA256: "x" },
            {
                GM_PROFILE: "lab-42", GM_DRIVER: "docker", GM_GPUS: "all", GM_CPUS: "6", GM_MEMORY: "12g",
                GM_KUBERNETES_VERSION: "v1.33.1", GM_ADDONS: "ingress,metrics-server", GM_START_TIMEOUT_SECONDS: "600",
                GM_RECREATE_IF_INCOMPATIBLE: "false", GM_START_TOKEN: "tok-1", GM_SCRIPTS_SHA256: "x", GM_MINIKUBE_FORCE: "false",
            });
        assert.equal(env("host-preflight").GM_MINIKUBE_GPUS, "all");
        assert.equal(env("host-docker-runtime").GM_TIMEOUT_SECONDS, "77");
        assert.equal(env("host-docker-gpu-check").GM_IMAGE, CONFIG.verification.image);
        assert.equal(env("device-plugin-addon").GM_TIMEOUT_SECONDS, "99");
        assert.equal(env("gpu-verification-image-load").GM_IMAGE, CONFIG.verification.image);
        assert.equal(env("gpu-verification-wait").GM_TIMEOUT_SECONDS, "321");
        for (const c of commands()) assert.match(env(c.name).GM_SCRIPTS_SHA256, /^[0-9a-f]{64}$/);
    });

    it("the cluster observation, the host's GPU facts and the failed attempts are read read-only, as invokes, on every up", () => {
        const probe = (script: string) => invokes.find((i) => i.token === "command:local:run" && scriptOf(i.inputs.command) === script);
        assert.deepEqual(probe("minikube-observe.sh")?.inputs.environment, { GM_PROFILE: "lab-42" });
        assert.deepEqual(probe("host-facts.sh")?.inputs.environment, {});
        assert.deepEqual(probe("verification-observe.sh")?.inputs.environment, { GM_PROFILE: "lab-42" });
    });

    it("destroy steps exist only where there is something to undo", () => {
        assert.equal(scriptOf(command("host-docker-runtime").inputs.delete), "restore-docker-runtime.sh");
        assert.equal(scriptOf(command("cluster-start").inputs.delete), "minikube-delete.sh");
        assert.equal(scriptOf(command("device-plugin-addon").inputs.delete), "device-plugin-delete.sh");
        for (const name of ["host-preflight", "host-toolkit", "host-docker-gpu-check", "gpu-verification-wait", "gpu-verification-gate"]) {
            assert.equal(command(name).inputs.delete, undefined, name);
        }
    });

    it("a new profile replaces the cluster delete-first; other edits re-run in place", () => {
        const start = command("cluster-start");
        assert.deepEqual(start.inputs.triggers, ["lab-42"]);
        assert.equal(start.deleteBeforeReplace, true);
        for (const c of commands().filter((x) => x.name !== "cluster-start")) {
            assert.equal(c.inputs.triggers, undefined, `${c.name} must not be replaced on input change`);
        }
    });
});

describe("secrets", () => {
    it("the kubeconfig output is secret", async () => {
        assert.equal(await pulumi.isSecret(program.kubeconfig), true);
        assert.match(await output(program.kubeconfig), /^apiVersion: v1/);
    });

    it("the start step's stdout (which holds the kubeconfig) is stored secret and kept out of logs", () => {
        const start = command("cluster-start");
        assert.deepEqual(start.additionalSecretOutputs, ["stdout"]);
        assert.equal(start.inputs.logging, "stderr");
    });

    it("the kubeconfig reaches scripts and the provider only as a secret", () => {
        assert.deepEqual(command("device-plugin-addon").secretInputPaths, ["environment.GM_KUBECONFIG"]);
        assert.deepEqual(command("gpu-verification-wait").secretInputPaths, ["environment.GM_KUBECONFIG"]);
        assert.deepEqual(find("pulumi:providers:kubernetes", "cluster-k8s").secretInputPaths, ["kubeconfig"]);
    });
});

describe("Kubernetes objects", () => {
    it("use the explicit provider, which is keyed to the profile", () => {
        const provider = find("pulumi:providers:kubernetes", "cluster-k8s");
        assert.equal(provider.inputs.clusterIdentifier, "lab-42");
        const k8sObjects = registered.filter((r) => r.type.startsWith("kubernetes:"));
        assert.ok(k8sObjects.length >= 2);
        for (const r of k8sObjects) assert.ok(r.provider.startsWith(`${provider.urn}::`), `${r.type} ${r.name} uses ${r.provider}`);
    });

    it("the Job runs nvidia-smi on the configured GPUs and validates against the Kubernetes schema", () => {
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-job").inputs as unknown as JobInputs;
        // The namespace is per cluster incarnation (start token "tok-1" under the mocks).
        assert.match(job.metadata.namespace, /^gpu-minikube-verification-[0-9a-f]{8}$/);
        const ns0 = find("kubernetes:core/v1:Namespace", "gpu-verification-namespace").inputs as { metadata: { name: string } };
        assert.equal(job.metadata.namespace, ns0.metadata.name);
        assert.match(job.metadata.name, /^gpu-verify-[0-9a-f]{10}$/);
        const spec = job.spec;
        assert.equal(spec.backoffLimit, 0);
        assert.equal(spec.activeDeadlineSeconds, 321);
        const pod = spec.template.spec;
        assert.equal(pod.restartPolicy, "Never");
        assert.equal(pod.containers[0].image, CONFIG.verification.image);
        assert.deepEqual(pod.containers[0].resources.limits, { "nvidia.com/gpu": "1" });
        assert.match(pod.containers[0].command.join(" "), /^sh -c nvidia-smi && \{ q=\$\(nvidia-smi --query-gpu=index,name,uuid,driver_version,memory\.total,pci\.bus_id --format=csv\);/);
        assert.doesNotThrow(() => new Job(job as unknown as ConstructorParameters<typeof Job>[0]).validate());
        const ns = find("kubernetes:core/v1:Namespace", "gpu-verification-namespace").inputs;
        assert.doesNotThrow(() => new Namespace(ns as ConstructorParameters<typeof Namespace>[0]).validate());
    });
});

describe("workloads", () => {
    const jobOf = (name: string) => find("kubernetes:batch/v1:Job", name).inputs as unknown as JobInputs;
    it("one Job per compute workload: its image, one GPU, the verification namespace, its own name", () => {
        const smi = jobOf("gpu-verification-job");
        const va = jobOf("gpu-verification-vectoradd-job");
        const nb = jobOf("gpu-verification-nbody-job");
        assert.match(va.metadata.name, /^gpu-verify-vectoradd-[0-9a-f]{10}$/);
        assert.match(nb.metadata.name, /^gpu-verify-nbody-[0-9a-f]{10}$/);
        for (const [job, image] of [[va, CONFIG.verification.images.vectorAdd], [nb, CONFIG.verification.images.nbody]] as const) {
            assert.equal(job.metadata.namespace, smi.metadata.namespace);
            assert.equal(job.spec.template.spec.containers[0].image, image);
            assert.deepEqual(job.spec.template.spec.containers[0].resources.limits, { "nvidia.com/gpu": "1" });
            assert.equal(job.spec.activeDeadlineSeconds, 321);
            assert.doesNotThrow(() => new Job(job as unknown as ConstructorParameters<typeof Job>[0]).validate());
        }
        assert.deepEqual(nb.spec.template.spec.containers[0].command, ["/cuda-samples/nbody", "-benchmark", "-numbodies=204800"]);
    });

    it("images are pulled on the host after the host is ready, then loaded before their Job", () => {
        const pulls = registered.filter((r) => r.type === "docker:index/remoteImage:RemoteImage");
        const byName = Object.fromEntries(pulls.map((p) => [p.inputs.name, p]));
        for (const [w, image] of [["vectoradd", CONFIG.verification.images.vectorAdd], ["nbody", CONFIG.verification.images.nbody]]) {
            assert.ok(byName[image], `${image} is pulled`);
            assert.equal(byName[image].inputs.keepLocally, true);
            const load = command(`gpu-verification-${w}-image-load`);
            assert.equal((load.inputs.environment as Record<string, string>).GM_IMAGE, image);
            assert.ok(find("kubernetes:batch/v1:Job", `gpu-verification-${w}-job`).dependencies.includes(load.urn));
        }
        // Each load gets its pulled image's id (a new id behind the same tag loads the host's image again), the
        // nvidia-smi image's too (the mocks give every pulled image the id sha256:0123).
        for (const [load, pull] of [["gpu-verification-image-load", "host-cuda-image"], ["gpu-verification-vectoradd-image-load", "workload-images-vectoradd"],
            ["gpu-verification-nbody-image-load", "workload-images-nbody"]]) {
            assert.equal((command(load).inputs.environment as Record<string, string>).GM_IMAGE_ID, "sha256:0123", load);
            assert.ok(command(load).dependencies.includes(find("docker:index/remoteImage:RemoteImage", pull).urn), `${load} waits for ${pull}`);
        }
        const gpuCheck = command("host-docker-gpu-check");
        for (const p of pulls.filter((x) => x.name !== "host-cuda-image")) {
            // Component dependencies reach the children as their own dependencies.
            assert.ok(p.dependencies.includes(gpuCheck.urn), `${p.name} waits for Docker to be back and GPU-ready`);
            assert.ok(!p.dependencies.includes(command("cluster-start").urn), `${p.name} pulls while the cluster starts`);
        }
    });

    it("each workload's wait step names its own image key in its fixes (verification.images.<workload>)", () => {
        for (const [w, key] of [["vectoradd", "verification.images.vectorAdd"], ["nbody", "verification.images.nbody"]]) {
            assert.equal((command(`gpu-verification-${w}-wait`).inputs.environment as Record<string, string>).GM_IMAGE_KEY, key);
        }
        assert.equal((command("gpu-verification-wait").inputs.environment as Record<string, string>).GM_IMAGE_KEY, undefined, "nvidia-smi: the default");
    });

    it("workloads run one after the other in the configured order; image loads run ahead, one at a time", () => {
        const job = (w: string) => find("kubernetes:batch/v1:Job", `gpu-verification-${w}-job`);
        assert.ok(job("nbody").dependencies.includes(command("gpu-verification-wait").urn), "nbody after nvidia-smi");
        assert.ok(job("vectoradd").dependencies.includes(command("gpu-verification-nbody-wait").urn), "vectorAdd after nbody (the configured order)");
        const nbLoad = command("gpu-verification-nbody-image-load");
        const vaLoad = command("gpu-verification-vectoradd-image-load");
        assert.ok(nbLoad.dependencies.includes(command("gpu-verification-image-load").urn));
        assert.ok(vaLoad.dependencies.includes(nbLoad.urn));
        for (const load of [nbLoad, vaLoad]) {
            assert.ok(!load.dependencies.some((d) => d.endsWith("-wait")), `${load.name} does not wait for a Job`);
        }
    });
});

describe("lifecycle", () => {
    it("the Job is replaced delete-first, so a name that comes back (gpus 1 → 2 → 1) never meets its old Job", () => {
        assert.equal(find("kubernetes:batch/v1:Job", "gpu-verification-job").deleteBeforeReplace, true);
    });

    it("the Job's identity covers the check, the deadline, the host's GPU facts and the failed attempts", () => {
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-job").inputs as unknown as JobInputs;
        const spec = { image: CONFIG.verification.image, gpus: 1, timeoutSeconds: 321, runId: "run-7" };
        assert.equal(job.metadata.name, verificationJobName({ ...spec, rerunToken: rerunToken(["580.159.04", [H200_UUID], 0, ""]) }));
    });

    it("the wait depends on the Job as the cluster has it (its uid): a Job recreated by `up --refresh` re-runs it", () => {
        const env = command("gpu-verification-wait").inputs.environment as Record<string, string>;
        assert.equal(env.GM_JOB_UID, JOB_UID);
        assert.equal(env.GM_PROFILE, "lab-42", "where failed attempts are noted");
    });

    it("a gate step after the wait fails `up` when the verification did not pass", () => {
        const gate = command("gpu-verification-gate");
        // After the last configured workload (vectorAdd here), so it sees every verdict.
        assert.ok(gate.dependencies.includes(command("gpu-verification-vectoradd-wait").urn));
        const env = gate.inputs.environment as Record<string, string>;
        assert.deepEqual({ ...env, GM_SCRIPTS_SHA256: "x" }, {
            GM_PASSED: "true", GM_REASONS: "", GM_VERIFIED_AT: "2026-11-30T01:00:00Z", GM_PROFILE: "lab-42",
            GM_JOB: `${verificationNamespace("tok-1")}/x`, GM_SCRIPTS_SHA256: "x",
        });
    });

    it("a driver or GPU change re-runs preflight, the Docker GPU check and the allocatable check", () => {
        const token = hostFactsToken({ driverVersion: "580.159.04", gpuUuids: [H200_UUID], error: null });
        for (const name of ["host-preflight", "host-docker-gpu-check", "device-plugin-addon"]) {
            assert.equal((command(name).inputs.environment as Record<string, string>).GM_RECHECK_TOKEN, token, name);
        }
        assert.notEqual(hostFactsToken({ driverVersion: "590.10.02", gpuUuids: [H200_UUID], error: null }), token);
        assert.equal(hostFactsToken({ driverVersion: "580.159.04", gpuUuids: ["GPU-b", "GPU-a"], error: null }),
            hostFactsToken({ driverVersion: "580.159.04", gpuUuids: ["GPU-a", "GPU-b"], error: null }), "order does not matter");
    });

    it("the verdict compares the pod with the host facts read on this up, not preflight's record", async () => {
        const v = await output(program.gpuVerification);
        assert.equal(v.passed, true);
        const job = find("kubernetes:batch/v1:Job", "gpu-verification-job").inputs as unknown as JobInputs;
        const spec = { image: CONFIG.verification.image, gpus: 1, timeoutSeconds: 321, runId: "run-7" };
        assert.notEqual(job.metadata.name, verificationJobName({ ...spec, rerunToken: rerunToken(["590.10.02", [H200_UUID], 0, ""]) }),
            "a new driver is a new Job");
    });

    it("what dies with the cluster is deleted with it (deletedWith), not one by one against a vanishing API server", () => {
        const start = command("cluster-start").urn;
        assert.equal(find("kubernetes:batch/v1:Job", "gpu-verification-job").deletedWith, start);
        assert.equal(find("kubernetes:core/v1:Namespace", "gpu-verification-namespace").deletedWith, start);
        assert.equal(command("device-plugin-addon").deletedWith, start);
        assert.equal(command("cluster-start").deletedWith, "", "the cluster itself is deleted by its own step");
    });

    it("each stage's first steps wait for the previous stage through the components' dependsOn option", () => {
        assert.ok(command("cluster-start").dependencies.includes(command("host-docker-gpu-check").urn));
        assert.ok(command("device-plugin-addon").dependencies.includes(command("cluster-start").urn));
        for (const name of ["gpu-verification-image-load"]) assert.ok(command(name).dependencies.includes(command("device-plugin-addon").urn), name);
        assert.ok(find("kubernetes:core/v1:Namespace", "gpu-verification-namespace").dependencies.includes(command("device-plugin-addon").urn));
    });
});

describe("stack outputs", () => {
    it("profile", () => assert.equal(program.profile, "lab-42"));

    it("hostPrep", async () => {
        assert.ok(program.hostPrep);
        assert.deepEqual(await output(program.hostPrep), {
            driverVersion: "580.159.04", cudaVersion: "13.0",
            gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }],
            toolkitVersion: "1.20.0", runtimeConfigured: true,
            changed: ["toolkit-installed", "docker-runtime-configured", "docker-restarted"],
            wsl2: false, dockerDesktop: false, warnings: [],
        });
    });

    it("dockerGpuCheck", async () => {
        assert.ok(program.dockerGpuCheck);
        const check = await output(program.dockerGpuCheck);
        assert.equal(check.passed, true);
        assert.equal(check.exitCode, 0);
        assert.equal(check.imageDigest, "nvidia/cuda@sha256:abcd");
        assert.equal(check.driverVersion, "580.159.04");
        assert.deepEqual(check.gpus.map((g) => g.uuid), [H200_UUID]);
    });

    it("gpuAllocatable", async () => {
        assert.deepEqual(await output(program.gpuAllocatable), { "lab-42": 1 });
        assert.equal(await pulumi.isSecret(program.gpuAllocatable), false);
    });

    it("gpuVerification has the documented shape and passes on the recorded H200 log", async () => {
        const v = await output(program.gpuVerification);
        assert.ok("node" in v, "minikube mode keeps the single-Job shape");
        assert.deepEqual(Object.keys(v).sort(), ["clusterIncarnation", "cudaVersion", "driverVersion", "gpus", "image", "job", "log", "node",
            "nodes", "passed", "reasons", "verifiedAt", "workloads"]);
        assert.equal(v.verifiedAt, "2026-11-30T01:00:00Z");
        assert.equal(v.clusterIncarnation, verificationNamespace("tok-1").split("-").pop());
        assert.equal(v.job, `${verificationNamespace("tok-1")}/x`);
        assert.deepEqual(Object.keys(v.workloads ?? {}), ["nvidia-smi", "nbody", "vectorAdd"], "in the configured order");
        assert.deepEqual(v.workloads?.vectorAdd, {
            passed: true, reasons: [], image: CONFIG.verification.images.vectorAdd, durationSeconds: 3, log: VECTORADD_LOG,
        });
        assert.equal(v.workloads?.nbody?.passed, true);
        assert.equal(v.workloads?.nbody?.metrics?.gflops, 44453.425);
        // The sample's own warnings are kept in the output and shown by `up`.
        assert.deepEqual(v.workloads?.nbody?.metrics?.warnings, [
            "MapSMtoCores for SM 8.9 is undefined.  Default to use 128 Cores/SM",
            "MapSMtoArchName for SM 8.9 is undefined.  Default to use Ampere",
        ]);
        assert.deepEqual(warnings.filter((w) => w.includes("nbody: ")), [
            "warning: [runtime] nbody: MapSMtoCores for SM 8.9 is undefined.  Default to use 128 Cores/SM",
            "warning: [runtime] nbody: MapSMtoArchName for SM 8.9 is undefined.  Default to use Ampere",
        ]);
        assert.equal(v.workloads?.["nvidia-smi"]?.log, POD_LOG);
        assert.deepEqual(Object.keys(v.nodes), ["lab-42"]);
        assert.equal(v.nodes["lab-42"].passed, true);
        assert.equal(v.passed, true, v.reasons.join("; "));
        assert.deepEqual(v.gpus, [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID, memoryTotalMiB: 143771, busId: "00000000:00:06.0" }]);
        assert.equal(v.driverVersion, "580.159.04");
        assert.equal(v.cudaVersion, "13.0");
        assert.equal(v.node, "lab-42");
        assert.equal(v.image, CONFIG.verification.image);
        assert.equal(v.log, POD_LOG);
        assert.equal(await pulumi.isSecret(program.gpuVerification), false, "pipelines read it without --show-secrets");
    });
});
