// The whole program (index.ts) under Pulumi's mocks, for the test/program*.test.ts files: stack
// config, what each script "printed", and a record of what the SDK really sent for every resource
// and invoke. Each of those files differs only in its config and the scripts' summaries; the
// machinery is here once.
//
// Importing ../../index runs the program, and Node caches the module: one program run per process.
// Node's test runner starts each test file in its own process, so each file gets one run.
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { NODE_FACT_COLUMNS } from "../../components/gpuNodes";

/** The program's module: its stack outputs. */
export type Program = typeof import("../../index");

/** Pulumi's secret signature: the SDK sends a secret as `{ [SIG_KEY]: SECRET_SIG, value }`. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** A custom resource as the SDK sent it to the engine (the mock monitor), after it was registered. */
export interface Registered {
    /** Type token, e.g. `command:local:Command`. */
    type: string;
    /** Logical name, e.g. `cluster-start`. */
    name: string;
    /** The URN the monitor gave it; dependencies and providers refer to it. */
    urn: string;
    /** Inputs as sent, secrets still wrapped in Pulumi's secret signature (see {@link secretInputPaths}). */
    inputs: Record<string, unknown>;
    /** Provider reference (`<provider urn>::<id>`), or "" for the default provider. */
    provider: string;
    /** URNs this resource waits for (dependsOn, component dependencies and input dependencies). */
    dependencies: string[];
    /** Outputs the engine must store as secrets. */
    additionalSecretOutputs: string[];
    /** Whether a replacement deletes the old resource first. */
    deleteBeforeReplace: boolean;
    /** URN of the resource whose deletion deletes this one, or "". */
    deletedWith: string;
    /** Dotted paths of the inputs that arrived as secrets, e.g. `environment.GM_KUBECONFIG`. */
    secretInputPaths: string[];
}

/** A read-only call (invoke) the program made, such as a `command:local:run` probe. */
export interface Invoke {
    /** Function token, e.g. `command:local:run`. */
    token: string;
    /** Arguments as the mocks received them. */
    inputs: Record<string, unknown>;
}

/** One resource the mocks were asked to create: custom or component. */
export interface Created {
    /** Type token. */
    type: string;
    /** Logical name. */
    name: string;
}

/** What differs between the program test files. */
export interface ProgramMocksOptions {
    /**
     * Stack config, keyed without the `gpu-minikube:` prefix. Objects are JSON-encoded, as the
     * engine hands structured config to the program; strings are passed as they are.
     */
    config: Record<string, unknown>;
    /** The JSON summary line each script "prints" when a `command:local:Command` runs it, keyed by script file name. */
    scriptStdout: Record<string, unknown>;
    /** What each read-only probe (a `command:local:run` invoke) "prints", keyed by script file name. Default: {@link scriptStdout}. */
    probeStdout?: Record<string, unknown>;
    /**
     * A summary for one Job's command instead of its script's: given the command's `GM_JOB_NAME`
     * (or "") and its script, returns the summary, or undefined to use {@link scriptStdout}.
     * Default: none (every command prints its script's summary).
     */
    jobStdout?: (jobName: string, script: string) => unknown;
    /** The uid the cluster gives every `kubernetes:batch/v1:Job` (in `metadata.uid`). Default: none. */
    jobUid?: string;
    /** Extra output state per resource type, e.g. a RemoteImage's `repoDigest`. Default: none. */
    resourceState?: Record<string, Record<string, unknown>>;
    /**
     * A resource registered only once results are known (the verification gate): {@link ProgramMocks.run}
     * waits up to 2 s for it after the outputs settle. Default: none.
     */
    settleOn?: string;
}

/** The mocks and their records; see {@link programMocks}. */
export interface ProgramMocks {
    /** Every custom resource the SDK registered, in registration order (filled while the program runs). */
    readonly registered: Registered[];
    /** Every resource (custom or component) the mocks were asked to create. */
    readonly created: Created[];
    /** Every invoke the program made. */
    readonly invokes: Invoke[];
    /** Sets the config, installs the mocks and the recording; does not run the program. */
    install(): Promise<void>;
    /** {@link install}, then runs the program and waits until its outputs (and {@link ProgramMocksOptions.settleOn}) settle. */
    run(): Promise<Program>;
    /** The registered resource of this type and name; fails the test, listing what there is, when there is none. */
    find(type: string, name: string): Registered;
    /** The registered `command:local:Command` of this name (see {@link find}). */
    command(name: string): Registered;
    /** The registered resource of this name, whatever its type (see {@link find}). */
    byName(name: string): Registered;
}

/** The script a command line runs; fails when it is anything but `bash ./scripts/<name>.sh` (no config pasted in). */
export function scriptOf(commandLine: unknown): string {
    const m = /^bash \.\/scripts\/([a-z0-9-]+\.sh)$/.exec(String(commandLine));
    assert.ok(m, `command ${JSON.stringify(commandLine)} is not a plain script call`);
    return m[1];
}

/** Paths of inputs that arrived as secrets (the SDK serializes them with Pulumi's secret signature). */
export function secretPaths(value: unknown, at: string[] = []): string[] {
    if (value === null || typeof value !== "object") return [];
    const obj = value as Record<string, unknown>;
    if (obj[SIG_KEY] === SECRET_SIG) return [at.join(".")];
    return Object.entries(obj).flatMap(([k, v]) => secretPaths(v, [...at, k]));
}

/** A value without Pulumi's secret wrapper, when it has one; otherwise the value itself. */
export function unsecret(value: unknown): unknown {
    const o = value as Record<string, unknown> | null | undefined;
    return o !== null && typeof o === "object" && o[SIG_KEY] === SECRET_SIG ? o.value : value;
}

/** The value of an Output once known (the mocks never run a preview, so every value becomes known). */
export function output<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply(resolve));
}

/** One node row as scripts/lib/gpu-nodes.sh prints it; columns not given are empty, `ready` defaults to True. */
export function nodeRow(f: Partial<Record<(typeof NODE_FACT_COLUMNS)[number], string>>): string {
    return NODE_FACT_COLUMNS.map((c) => f[c] ?? (c === "ready" ? "True" : "")).join("\t");
}

/**
 * A kubeconfig for an existing cluster: one cluster (`https://10.1.2.3:6443`), one context
 * (`prod-admin`, current), one user authenticating with `token`. The program never contacts it under
 * the mocks; it only reads the server and context, and passes the file to scripts as a secret.
 */
export function existingKubeconfig(token: string): string {
    return `apiVersion: v1
kind: Config
clusters:
- {name: prod, cluster: {server: "https://10.1.2.3:6443"}}
contexts:
- {name: prod-admin, context: {cluster: prod, user: admin}}
current-context: prod-admin
users:
- {name: admin, user: {token: ${token}}}
`;
}

/** The subset of the engine's RegisterResourceRequest the recording reads. */
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getCustom(): boolean;
    getProvider(): string;
    getObject(): { toJavaScript(): unknown };
    getDependenciesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getDeletebeforereplace(): boolean;
    getDeletedwith(): string;
}

/**
 * Mocks for one run of the program. The record arrays exist from the start (so a test file can
 * destructure them at the top) and fill while {@link ProgramMocks.run} runs the program.
 */
export function programMocks(options: ProgramMocksOptions): ProgramMocks {
    const registered: Registered[] = [];
    const created: Created[] = [];
    const invokes: Invoke[] = [];
    const probeStdout = options.probeStdout ?? options.scriptStdout;

    const find = (type: string, name: string): Registered => {
        const r = registered.find((x) => x.type === type && x.name === name);
        assert.ok(r, `no ${type} named ${name}; have: ${registered.map((x) => `${x.type} ${x.name}`).join(", ")}`);
        return r;
    };
    const byName = (name: string): Registered => {
        const r = registered.find((x) => x.name === name);
        assert.ok(r, `${name} is registered (have: ${registered.map((x) => x.name).join(", ")})`);
        return r;
    };

    async function install(): Promise<void> {
        pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(options.config).map(([k, v]) =>
            [`gpu-minikube:${k}`, typeof v === "string" ? v : JSON.stringify(v)])));
        await pulumi.runtime.setMocks({
            newResource(args) {
                created.push({ type: args.type, name: args.name });
                const state: Record<string, unknown> = { ...args.inputs, ...options.resourceState?.[args.type] };
                if (args.type === "command:local:Command") {
                    const script = scriptOf(args.inputs.create);
                    // The environment holds the kubeconfig, so the mocks get it whole as a secret ({sig, value}).
                    const env = (unsecret(args.inputs.environment) ?? {}) as Record<string, unknown>;
                    const perJob = options.jobStdout?.(String(env.GM_JOB_NAME ?? ""), script);
                    state.stdout = JSON.stringify(perJob ?? options.scriptStdout[script]);
                    state.stderr = "";
                }
                if (args.type === "kubernetes:batch/v1:Job" && options.jobUid !== undefined) {
                    state.metadata = { ...(args.inputs.metadata as object), uid: options.jobUid };
                }
                return { id: `${args.name}-id`, state };
            },
            call(args) {
                invokes.push({ token: args.token, inputs: args.inputs });
                if (args.token === "command:local:run") {
                    return { ...args.inputs, stdout: JSON.stringify(probeStdout[scriptOf(args.inputs.command)]), stderr: "" };
                }
                return args.inputs;
            },
        }, "gpu-minikube", "test", false);

        // The mocks' newResource sees inputs after deserialization (secrets merged upward, no
        // dependencies); record what the SDK really sends: dependencies, provider, secret outputs,
        // raw (secret-marked) inputs.
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
                    urn: (res as { getUrn(): string } | undefined)?.getUrn() ?? "",
                    inputs: raw,
                    provider: req.getProvider(),
                    dependencies: req.getDependenciesList(),
                    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                    deleteBeforeReplace: req.getDeletebeforereplace(),
                    deletedWith: req.getDeletedwith(),
                    secretInputPaths: secretPaths(raw),
                });
            }
            cb(err, res);
        });
    }

    async function run(): Promise<Program> {
        await install();
        const program = (await import("../../index")) as Program;
        // Let every registration and apply settle (outputs a mode does not have are undefined).
        const outputs: Array<pulumi.Output<unknown> | undefined> = [program.gpuVerification, program.hostPrep, program.dockerGpuCheck, program.gpuAllocatable];
        await Promise.all(outputs.map((o) => (o === undefined ? undefined : output(o))));
        const late = options.settleOn;
        for (let i = 0; late !== undefined && i < 200 && !registered.some((r) => r.name === late); i++) await new Promise((r) => setTimeout(r, 10));
        return program;
    }

    return { registered, created, invokes, install, run, find, command: (name) => find("command:local:Command", name), byName };
}
