// The whole program under Pulumi's mocks: the resource graph, how inputs reach scripts, secrets,
// the explicit Kubernetes provider, the Job spec and the shape of every stack output.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Job } from "kubernetes-models/batch/v1";
import { Namespace } from "kubernetes-models/v1";

const FIXTURES = path.join(__dirname, "fixtures", "nvidia-smi");
const H200_UUID = "GPU-6121f79f-64c1-4fce-d205-887843b4899e";
const POD_LOG = fs.readFileSync(path.join(FIXTURES, "smi-combined.txt"), "utf8");

// Distinctive config values, so a test can prove none of them is pasted into a command string.
const CONFIG = {
    profile: "lab-42",
    minikube: { cpus: 6, memory: "12g", kubernetesVersion: "v1.33.1", addons: ["ingress", "metrics-server"] },
    hostPrep: { timeoutSeconds: 77 },
    devicePlugin: { timeoutSeconds: 99 },
    verification: { image: "registry.example:5000/team/cuda:12.5.0-probe", gpus: 1, timeoutSeconds: 321, runId: "run-7" },
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
    "verification-wait.sh": { stage: "verification", jobName: "x", succeeded: true, pod: "x-abcde", node: "lab-42", log: POD_LOG },
};

interface Registered {
    type: string;
    name: string;
    urn: string;
    inputs: Record<string, unknown>;
    provider: string;
    dependencies: string[];
    additionalSecretOutputs: string[];
    deleteBeforeReplace: boolean;
    secretInputPaths: string[];
}

const registered: Registered[] = [];
const invokes: Array<{ token: string; inputs: Record<string, unknown> }> = [];
let program: typeof import("../index");

function scriptOf(commandLine: unknown): string {
    const m = /^bash \.\/scripts\/([a-z0-9-]+\.sh)$/.exec(String(commandLine));
    assert.ok(m, `command ${JSON.stringify(commandLine)} is not a plain script call`);
    return m[1];
}

/** Paths of inputs that arrived as secrets (the SDK serializes them with Pulumi's secret signature). */
function secretPaths(value: unknown, at: string[] = []): string[] {
    if (value === null || typeof value !== "object") return [];
    const obj = value as Record<string, unknown>;
    if (obj["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") return [at.join(".")];
    return Object.entries(obj).flatMap(([k, v]) => secretPaths(v, [...at, k]));
}

function output<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply(resolve));
}

const find = (type: string, name: string) => {
    const r = registered.find((x) => x.type === type && x.name === name);
    assert.ok(r, `no ${type} named ${name}; have: ${registered.map((x) => `${x.type} ${x.name}`).join(", ")}`);
    return r;
};
const command = (name: string) => find("command:local:Command", name);

before(async () => {
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(CONFIG).map(([k, v]) =>
        [`gpu-minikube:${k}`, typeof v === "string" ? v : JSON.stringify(v)])));
    await pulumi.runtime.setMocks({
        newResource(args) {
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type === "command:local:Command") {
                state.stdout = JSON.stringify(SCRIPT_STDOUT[scriptOf(args.inputs.create)]);
                state.stderr = "";
            }
            if (args.type === "docker:index/remoteImage:RemoteImage") {
                state.imageId = "sha256:0123";
                state.repoDigest = "nvidia/cuda@sha256:abcd";
            }
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            invokes.push({ token: args.token, inputs: args.inputs });
            if (args.token === "command:local:run" && String(args.inputs.command).endsWith("docker-endpoint.sh")) {
                return { ...args.inputs, stdout: JSON.stringify({ stage: "docker-endpoint", dockerHost: "unix:///run/user/1000/docker.sock", reachable: true }), stderr: "" };
            }
            if (args.token === "command:local:run") {
                return { ...args.inputs, stdout: JSON.stringify({ state: "Running", token: "tok-1" }), stderr: "" };
            }
            return args.inputs;
        },
    }, "gpu-minikube", "test", false);

    // Record what the SDK really sends: dependencies, provider, secret outputs, raw (secret-marked) inputs.
    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(req: RegisterRequest, cb: (err: unknown, res: unknown) => void): Promise<void>;
    };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => original(req, (err, res) => {
        if (!err && req.getCustom()) {
            const raw = req.getObject().toJavaScript() as Record<string, unknown>;
            registered.push({
                type: req.getType(),
                name: req.getName(),
                urn: (res as { getUrn(): string }).getUrn(),
                inputs: raw,
                provider: req.getProvider(),
                dependencies: req.getDependenciesList(),
                additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                deleteBeforeReplace: req.getDeletebeforereplace(),
                secretInputPaths: secretPaths(raw),
            });
        }
        cb(err, res);
    });

    program = await import("../index");
    // Let every registration and apply settle.
    const outputs: pulumi.Output<unknown>[] = [program.gpuVerification, program.hostPrep, program.dockerGpuCheck, program.gpuAllocatable];
    await Promise.all(outputs.map((o) => output(o)));
});

interface JobInputs {
    metadata: { name: string; namespace: string };
    spec: {
        backoffLimit: number;
        activeDeadlineSeconds: number;
        template: { spec: { restartPolicy: string; containers: Array<{ image: string; command: string[]; resources: { limits: Record<string, string> } }> } };
    };
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getCustom(): boolean;
    getProvider(): string;
    getObject(): { toJavaScript(): unknown };
    getDependenciesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getDeletebeforereplace(): boolean;
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
            "gpu-minikube:gpu:DevicePlugin", "gpu-minikube:gpu:GpuVerification"]) {
            const inUrns = registered.some((r) => r.urn.includes(`${token}$`));
            assert.ok(inUrns, `${token} is not a parent of any resource`);
        }
    });
});

describe("host commands", () => {
    const commands = () => registered.filter((r) => r.type === "command:local:Command");

    it("every command is a fixed script call; no config value is inside a command string", () => {
        const values = [CONFIG.profile, CONFIG.verification.image, "12g", "v1.33.1", "metrics-server", "run-7", "321", "99", "77"];
        assert.equal(commands().length, 8);
        for (const c of commands()) {
            for (const field of ["create", "update", "delete"]) {
                if (c.inputs[field] === undefined) continue;
                scriptOf(c.inputs[field]);
                for (const v of values) assert.ok(!String(c.inputs[field]).includes(v), `${c.name}.${field} contains ${v}`);
            }
            assert.equal(c.inputs.dir, path.resolve(__dirname, ".."));
        }
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

    it("the cluster observation runs read-only, as an invoke, on every up", () => {
        const observe = invokes.find((i) => i.token === "command:local:run" && String(i.inputs.command).endsWith("minikube-observe.sh"));
        assert.ok(observe);
        assert.equal(scriptOf(observe.inputs.command), "minikube-observe.sh");
        assert.deepEqual(observe.inputs.environment, { GM_PROFILE: "lab-42" });
    });

    it("destroy steps exist only where there is something to undo", () => {
        assert.equal(scriptOf(command("host-docker-runtime").inputs.delete), "restore-docker-runtime.sh");
        assert.equal(scriptOf(command("cluster-start").inputs.delete), "minikube-delete.sh");
        assert.equal(scriptOf(command("device-plugin-addon").inputs.delete), "device-plugin-delete.sh");
        for (const name of ["host-preflight", "host-toolkit", "host-docker-gpu-check", "gpu-verification-wait"]) {
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
        assert.match(pod.containers[0].command.join(" "), /nvidia-smi && nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,pci.bus_id --format=csv/);
        assert.doesNotThrow(() => new Job(job as unknown as ConstructorParameters<typeof Job>[0]).validate());
        const ns = find("kubernetes:core/v1:Namespace", "gpu-verification-namespace").inputs;
        assert.doesNotThrow(() => new Namespace(ns as ConstructorParameters<typeof Namespace>[0]).validate());
    });
});

describe("stack outputs", () => {
    it("profile", () => assert.equal(program.profile, "lab-42"));

    it("hostPrep", async () => {
        assert.deepEqual(await output(program.hostPrep), {
            driverVersion: "580.159.04", cudaVersion: "13.0",
            gpus: [{ index: 0, name: "NVIDIA H200", uuid: H200_UUID }],
            toolkitVersion: "1.20.0", runtimeConfigured: true,
            changed: ["toolkit-installed", "docker-runtime-configured", "docker-restarted"],
            wsl2: false, dockerDesktop: false, warnings: [],
        });
    });

    it("dockerGpuCheck", async () => {
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
        assert.deepEqual(Object.keys(v).sort(), ["cudaVersion", "driverVersion", "gpus", "image", "log", "node", "passed", "reasons"]);
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
