import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { DEFAULT_WORKLOAD_IMAGES, DEFAULT_WORKLOADS, WORKLOAD_IDS } from "./workloads";
import { applyClusterMode } from "./clusterModes";

/** The Pulumi config namespace of every key this program reads (`gpu-minikube:<key>`). */
export const CONFIG_NAMESPACE = "gpu-minikube";

// Every string that can reach a host command or a Kubernetes name is matched against a strict
// allow-list pattern, so shell metacharacters, quotes, spaces, newlines and non-ASCII never pass.
const PROFILE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const MEMORY_PATTERN = /^(?:max|no-limit|[1-9][0-9]{0,6}(?:mb|m|gb|g)?)$/;
const KUBERNETES_VERSION_PATTERN = /^(?:stable|latest|v?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})$/;
const ADDON_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
// A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest], lowercase path as Docker demands.
const IMAGE_PATTERN =
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const RUN_ID_PATTERN = /^(?:[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?)?$/;

/** The values of `minikube.gpus` that minikube's docker driver accepts for NVIDIA GPUs. */
export const MINIKUBE_GPUS_VALUES = ["all", "nvidia", "nvidia.com"] as const;

/** Device-plugin modes: minikube's own addon, or NVIDIA's plugin as Pulumi-managed Kubernetes objects. */
export const DEVICE_PLUGIN_MODES = ["addon", "manifest"] as const;

/** GPU sharing strategies. MPS is rejected on purpose (see {@link MPS_REJECTION}). */
export const SHARING_STRATEGIES = ["none", "timeSlicing"] as const;

/** The NVIDIA device plugin image of manifest mode (NVIDIA's static manifest, v0.20.0). */
export const DEFAULT_DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0";

/** Why `devicePlugin.sharing.strategy: mps` is refused. */
export const MPS_REJECTION = `"none" or "timeSlicing"; MPS is out of scope: NVIDIA's plugin needs its separate MPS ` +
    `control-daemon DaemonSet for it, calls it experimental (since v0.15.0) and does not support it on MIG devices. ` +
    `Use "timeSlicing" (no memory or fault isolation between pods)`;

/** `cluster.mode`: create a minikube cluster here, or verify the GPU nodes of an existing cluster. */
export const CLUSTER_MODES = ["minikube", "existing"] as const;
/** `devicePlugin.mode` values for `cluster.mode: existing` (see components/clusterModes.ts). */
export const EXISTING_DEVICE_PLUGIN_MODES = ["none"] as const;

// `pulumi config set` without `--path` stores numbers and booleans as strings; accept those
// spellings so `pulumi config set gpu-minikube:x 8` behaves like `--path`.
const numericString = (v: unknown) => (typeof v === "string" && /^-?[0-9]{1,9}$/.test(v) ? Number(v) : v);
const booleanString = (v: unknown) => (v === "true" ? true : v === "false" ? false : v);

const int = (min: number, max: number, what: string) => {
    const error = `an integer ${what} from ${min} to ${max}`;
    return z.preprocess(numericString, z.number({ error }).int({ error }).min(min, { error }).max(max, { error }));
};

const bool = () => z.preprocess(booleanString, z.boolean({ error: "true or false" }));

const patterned = (pattern: RegExp, what: string) =>
    z.string({ error: what }).regex(pattern, { error: what });

/** A compute workload's image (`verification.images.<workload>`): allow-listed like `verification.image`, a tag. */
const workloadImage = (defaultImage: string) =>
    patterned(IMAGE_PATTERN, `a Docker image reference like ${defaultImage}`)
        .refine((v) => !v.includes("@"), {
            error: "a tag, not a digest: 'minikube image load' does not keep an image's registry digest, so the node " +
                "could not find '<image>@sha256:…' and would pull it again; use '<image>:<tag>'",
        })
        .default(defaultImage);
// A kube context name: what kubeconfigs use in practice (e.g. "kubernetes-admin@kubernetes",
// "gke_proj_zone_name", "arn:aws:eks:us-east-1:1234:cluster/x"); never reaches a shell unquoted.
const CONTEXT_PATTERN = /^[A-Za-z0-9@:/._+-]{1,253}$/;
// Kubernetes label keys and values (apimachinery validation.IsQualifiedName / IsValidLabelValue).
const LABEL_KEY_PATTERN =
    /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE_PATTERN = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const clusterSchema = z.strictObject({
    mode: z.enum(CLUSTER_MODES, { error: `one of ${CLUSTER_MODES.map((v) => `"${v}"`).join(", ")}` }).default("minikube"),
    // The kubeconfig text is a secret: checked in components/clusterModes.ts, never quoted in errors.
    kubeconfig: z.string({ error: "kubeconfig text (a YAML document)" }).max(1_000_000, { error: "at most 1 MB of kubeconfig text" }).optional(),
    context: patterned(CONTEXT_PATTERN, "a context name of the kubeconfig (letters, digits and @ : / . _ + -)").optional(),
}, { error: "an object" }).prefault({});

/**
 * The one place where defaults live. `Pulumi.yaml` declares the same defaults for `pulumi config`
 * users, and a test proves the two agree (Pulumi's mocks never read `Pulumi.yaml`).
 */
const configSchema = z.strictObject({
    cluster: clusterSchema,
    profile: patterned(PROFILE_PATTERN,
        "1-40 lowercase letters, digits and '-', starting and ending with a letter or digit").default("gpu-minikube"),
    minikube: z.strictObject({
        driver: z.literal("docker", { error: `"docker" (the only driver minikube supports GPUs on)` }).default("docker"),
        gpus: z.enum(MINIKUBE_GPUS_VALUES, { error: `one of ${MINIKUBE_GPUS_VALUES.map((v) => `"${v}"`).join(", ")}` }).default("all"),
        cpus: int(2, 256, "CPU count").default(4),
        // `pulumi config set --path minikube.memory 8192` stores a number: that means MB, as in minikube.
        memory: z.preprocess((v) => (typeof v === "number" ? String(v) : v), patterned(MEMORY_PATTERN,
            `a size in MB or with a unit ("8192", "8192mb", "8g"), or "max" / "no-limit"`)).default("8g"),
        kubernetesVersion: patterned(KUBERNETES_VERSION_PATTERN,
            `"stable", "latest" or a version like "v1.33.1"`).default("stable"),
        addons: z.array(patterned(ADDON_PATTERN, "an addon name of lowercase letters, digits and '-'"),
            { error: `a list of addon names, e.g. ["ingress"]` }).max(32).default(["ingress"]),
        startTimeoutSeconds: int(30, 3600, "number of seconds").default(600),
        recreateIfIncompatible: bool().default(false),
        // Passes --force to `minikube start`: lets the docker driver run as root (DRV_AS_ROOT otherwise)
        // and skips minikube's other validations. Off: preflight then blocks root before any change.
        force: bool().default(false),
    }, { error: "an object" }).prefault({}),
    hostPrep: z.strictObject({
        installToolkit: bool().default(true),
        configureDocker: bool().default(true),
        timeoutSeconds: int(10, 1800, "number of seconds").default(180),
    }, { error: "an object" }).prefault({}),
    devicePlugin: z.strictObject({
        mode: z.enum([...DEVICE_PLUGIN_MODES, ...EXISTING_DEVICE_PLUGIN_MODES],
            { error: `"addon" (minikube's addon), "manifest" (NVIDIA's plugin managed by Pulumi), or "none" with cluster.mode "existing"` }).default("addon"),
        timeoutSeconds: int(10, 3600, "number of seconds").default(300),
        image: patterned(IMAGE_PATTERN, `a Docker image reference like ${DEFAULT_DEVICE_PLUGIN_IMAGE} (used in mode "manifest")`)
            .default(DEFAULT_DEVICE_PLUGIN_IMAGE),
        sharing: z.strictObject({
            strategy: z.enum(SHARING_STRATEGIES, {
                error: (iss) => (iss.input === "mps" ? MPS_REJECTION : `"none" or "timeSlicing"`),
            }).default("none"),
            // Required for timeSlicing (checked below); ignored with "none", so going back is one setting.
            replicas: int(2, 64, "number of shares per GPU").optional(),
            renameByDefault: bool().default(false),
            failRequestsGreaterThanOne: bool().default(true),
        }, { error: "an object" }).prefault({}),
    }, { error: "an object" }).prefault({}).superRefine((dp, ctx) => {
        if (dp.sharing.strategy !== "timeSlicing") return;
        if (dp.mode !== "manifest") {
            ctx.addIssue({ code: "custom", path: ["sharing", "strategy"], input: dp.sharing.strategy,
                message: `"none" while devicePlugin.mode is "addon" (minikube's addon cannot be configured for sharing); ` +
                    `to share GPUs use NVIDIA's plugin: \`pulumi config set --path devicePlugin.mode manifest\`` });
        }
        if (dp.sharing.replicas === undefined) {
            ctx.addIssue({ code: "custom", path: ["sharing", "replicas"], input: undefined,
                message: `an integer number of shares per GPU from 2 to 64 (required when devicePlugin.sharing.strategy is "timeSlicing")` });
        }
    }),
    verification: z.strictObject({
        // A digest is refused in cluster.mode "minikube" only (components/clusterModes.ts): there the image
        // reaches the node by `minikube image load`, which drops registry digests; an existing
        // cluster's nodes pull it from the registry, where a digest pins it.
        image: patterned(IMAGE_PATTERN, "a Docker image reference like nvidia/cuda:12.5.0-base-ubuntu22.04")
            .default("nvidia/cuda:12.5.0-base-ubuntu22.04"),
        gpus: int(1, 64, "GPU count").default(1),
        timeoutSeconds: int(30, 3600, "number of seconds").default(600),
        // `pulumi config set --path verification.runId "$(date +%s)"` stores an integer: take it as its digits.
        runId: z.preprocess((v) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? String(v) : v),
            patterned(RUN_ID_PATTERN, "empty, or up to 20 lowercase letters, digits and '-' (change it to re-run the check)")).default(""),
        alwaysRerun: bool().default(false),
        workloads: z.array(z.enum(WORKLOAD_IDS, { error: `one of ${WORKLOAD_IDS.map((w) => `"${w}"`).join(", ")}` }),
            { error: `a list of workloads, e.g. ["nvidia-smi", "vectorAdd"]` })
            .refine((ws) => new Set(ws).size === ws.length, { error: "a list that names each workload once" })
            // nvidia-smi's check (the host's driver and GPU UUIDs in the pod) is what the others build on.
            .refine((ws) => ws[0] === "nvidia-smi", { error: `a list that starts with "nvidia-smi" (the driver and GPU check the others build on)` })
            .default([...DEFAULT_WORKLOADS]),
        // Tags only, for the same reason as `image`: `minikube image load` drops registry digests.
        images: z.strictObject({
            vectorAdd: workloadImage(DEFAULT_WORKLOAD_IMAGES.vectorAdd),
            nbody: workloadImage(DEFAULT_WORKLOAD_IMAGES.nbody),
        }, { error: "an object (vectorAdd, nbody; the nvidia-smi image is verification.image)" }).prefault({}),
        nodeSelector: z.record(
            z.string().max(316).regex(LABEL_KEY_PATTERN, { error: "a Kubernetes label key like nvidia.com/gpu.present" }),
            patterned(LABEL_VALUE_PATTERN, "a Kubernetes label value (up to 63 letters, digits, '-', '_', '.')"),
            { error: "a map of label key to value" }).default({}),
        parallelism: int(1, 256, "number of verification Jobs run at once").default(16),
    }, { error: "an object" }).prefault({}),
});

/** The validated, defaulted configuration of one stack. */
export type GpuMinikubeConfig = z.output<typeof configSchema>;
/** Minikube settings (`gpu-minikube:minikube`). */
export type MinikubeConfig = GpuMinikubeConfig["minikube"];
/** Host-preparation settings (`gpu-minikube:hostPrep`). */
export type HostPrepConfig = GpuMinikubeConfig["hostPrep"];
/** Device-plugin settings (`gpu-minikube:devicePlugin`). */
export type DevicePluginConfig = GpuMinikubeConfig["devicePlugin"];
/** GPU-sharing settings (`gpu-minikube:devicePlugin.sharing`). */
export type SharingConfig = DevicePluginConfig["sharing"];
/** Verification-Job settings (`gpu-minikube:verification`). */
export type VerificationConfig = GpuMinikubeConfig["verification"];

/** Cluster settings (`gpu-minikube:cluster`). */
export type ClusterConfig = GpuMinikubeConfig["cluster"];

/** The top-level keys of the namespace, in the order the README documents them. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as Array<keyof GpuMinikubeConfig>;

/** Thrown when the stack's configuration is invalid; its message lists every problem at once. */
export class ConfigError extends Error {
    /** One line per problem, each naming the full key, the value found and what is allowed. */
    readonly problems: string[];

    constructor(problems: string[]) {
        super(`Invalid ${CONFIG_NAMESPACE} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map((p) => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
        this.problems = problems;
    }
}

/** The schema's defaults, before any cluster-mode rule (what `Pulumi.yaml` declares). */
function defaultsFor(): GpuMinikubeConfig {
    return configSchema.parse({});
}

/** The defaults, as `resolveConfig({})` yields them. */
export function defaultConfig(): GpuMinikubeConfig {
    return resolveConfig({});
}

/**
 * Validates raw config values (top-level key → value as Pulumi stores it: plain strings, or JSON
 * text for objects) and fills in defaults. Throws one {@link ConfigError} listing every problem.
 */
export function resolveConfig(raw: Record<string, unknown>): GpuMinikubeConfig {
    const problems: string[] = [];
    const input: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
        if (value === undefined) continue;
        const decoded = decodeTopLevel(key, value);
        if (decoded.ok) input[key] = decoded.value;
        else problems.push(decoded.problem);
    }
    const result = configSchema.safeParse(input);
    if (!result.success) {
        for (const issue of result.error.issues) problems.push(...describeIssue(issue, input));
    }
    if (problems.length > 0 || !result.success) throw new ConfigError(problems);
    const modal = applyClusterMode(input, result.data, defaultsFor);
    if (modal.problems.length > 0) throw new ConfigError(modal.problems);
    return modal.config;
}

/**
 * Reads every `gpu-minikube:*` key of the running stack and validates it with {@link resolveConfig}.
 * Call it before creating any resource, so bad config never leaves a half-built host.
 */
export function loadConfig(): GpuMinikubeConfig {
    const raw: Record<string, unknown> = {};
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
        // `gpu-minikube:config:key` is the older form of `gpu-minikube:key` that the runtime still accepts.
        if (!fullKey.startsWith(prefix)) continue;
        const key = fullKey.slice(prefix.length).replace(/^config:/, "");
        raw[key] = value;
    }
    return resolveConfig(raw);
}

type Decoded = { ok: true; value: unknown } | { ok: false; problem: string };

/** Pulumi hands objects and arrays to programs as JSON text; plain values stay strings. */
function decodeTopLevel(key: string, value: unknown): Decoded {
    if (typeof value !== "string") return { ok: true, value };
    const trimmed = value.trim();
    if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return { ok: true, value };
    try {
        return { ok: true, value: JSON.parse(trimmed) };
    } catch (err) {
        // JSON.parse quotes the text it choked on: keep that out of messages about secrets.
        const secret = mayHoldSecret([key]);
        return {
            ok: false,
            problem: `${CONFIG_NAMESPACE}:${key}: found ${show(secret ? SECRET_NOT_SHOWN : value)}, which is not valid JSON${secret ? "" : ` (${(err as Error).message})`}; ` +
                `set fields one by one with \`pulumi config set --path ${key}.<field> <value>\``,
        };
    }
}

function describeIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>): string[] {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
        const known = knownKeysAt(path).join(", ");
        return issue.keys.map((k) => {
            const key = [...path, k].join(".");
            const found = mayHoldSecret([...path, k]) ? SECRET_NOT_SHOWN : valueAt(input, [...path, k]);
            return `${CONFIG_NAMESPACE}:${key}: unknown key (found ${show(found)}); ` +
                `known keys here: ${known}. Remove it with \`pulumi config rm --path ${key}\``;
        });
    }
    const key = path.join(".");
    const found = mayHoldSecret(path) ? SECRET_NOT_SHOWN : valueAt(input, path);
    const fix = path.length > 1 ? `pulumi config set --path ${key} <value>` : `pulumi config set ${key} <value>`;
    return [`${CONFIG_NAMESPACE}:${key}: found ${show(found)}; expected ${issue.message}. Fix: \`${fix}\``];
}

function knownKeysAt(path: string[]): string[] {
    let shape: z.ZodType = configSchema;
    for (const part of path) {
        const inner = unwrap(shape);
        if (!(inner instanceof z.ZodObject)) return [];
        shape = inner.shape[part] as z.ZodType;
    }
    const inner = unwrap(shape);
    return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
    let s: z.ZodType = schema;
    while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) s = s.unwrap() as z.ZodType;
    return s;
}

function valueAt(input: unknown, path: string[]): unknown {
    let v: unknown = input;
    for (const part of path) {
        if (v === null || typeof v !== "object") return undefined;
        v = (v as Record<string, unknown>)[part];
    }
    return v;
}

// Stands for a secret value in error messages.
const SECRET_NOT_SHOWN = Symbol("secret");

/**
 * Whether a value at PATH may be (or contain) the kubeconfig: anything under `cluster` except the
 * plain `mode` and `context`, so a mistyped key or a whole-object mistake never prints credentials.
 */
function mayHoldSecret(path: string[]): boolean {
    return path[0] === "cluster" && !(path.length === 2 && (path[1] === "mode" || path[1] === "context"));
}

/** Renders a found value for an error message; JSON keeps hostile characters visible and escaped. */
function show(value: unknown): string {
    if (value === undefined) return "nothing";
    if (value === SECRET_NOT_SHOWN) return "a value (secret, not shown)";
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
