import * as crypto from "crypto";
import { stringify as toYaml } from "yaml";
import type { SharingConfig } from "./config";

/**
 * NVIDIA's device plugin as Kubernetes objects (manifest mode): its config file in a ConfigMap and
 * the DaemonSet of NVIDIA's static manifest (deployments/static/nvidia-device-plugin.yml, v0.20.0:
 * image, tolerations, priorityClassName, security context, the kubelet's device-plugins hostPath),
 * plus what that manifest leaves out: the config file through `CONFIG_FILE` and
 * `FAIL_ON_INIT_ERROR=true`. Pure functions, no Pulumi resources.
 */

/**
 * Name (and pod label) of our DaemonSet. Deliberately not `nvidia-device-plugin-daemonset` /
 * `name=nvidia-device-plugin-ds`: minikube's addon uses exactly those, so sharing them would let the
 * addon's `kubectl apply` take over our object (or ours take over its) when switching modes.
 */
export const MANAGED_PLUGIN_NAME = "gpu-minikube-nvidia-device-plugin";
/** Namespace of the plugin: `system-node-critical` pods are only admitted in kube-system. */
export const PLUGIN_NAMESPACE = "kube-system";
/** Where the ConfigMap is mounted, and the plugin's `CONFIG_FILE`. */
export const PLUGIN_CONFIG_DIR = "/etc/gpu-minikube/nvidia-device-plugin";
/** The ConfigMap key (file name) holding the plugin's config. */
export const PLUGIN_CONFIG_KEY = "config.yaml";
/** The resource NVIDIA's plugin advertises for full GPUs, and the one time-slicing replicates. */
export const GPU_RESOURCE = "nvidia.com/gpu";

/** The resource name nodes advertise: `<name>.shared` when time-slicing renames by default. */
export function sharedResourceName(sharing: SharingConfig): string {
    return sharing.strategy === "timeSlicing" && sharing.renameByDefault ? `${GPU_RESOURCE}.shared` : GPU_RESOURCE;
}

/** Shares each physical GPU is advertised as: `replicas` with time-slicing, else 1. */
export function sharesPerGpu(sharing: SharingConfig): number {
    return sharing.strategy === "timeSlicing" ? (sharing.replicas ?? 1) : 1;
}

/**
 * The plugin's config file in NVIDIA's documented v1 format (README "As a configuration file" and
 * "With CUDA Time-Slicing"; api/config/v1: `version`, `flags`, `sharing.timeSlicing`).
 */
export interface NvidiaPluginConfig {
    /** Always `v1` (the plugin rejects any other version). */
    version: "v1";
    /** Shared flags; `failOnInitError` repeats `FAIL_ON_INIT_ERROR=true`, so the file alone says it too. */
    flags: { migStrategy: "none"; failOnInitError: true };
    /** Present only with time-slicing. */
    sharing?: {
        timeSlicing: {
            renameByDefault: boolean;
            failRequestsGreaterThanOne: boolean;
            resources: Array<{ name: string; replicas: number }>;
        };
    };
}

/** The plugin config for a sharing setting. */
export function pluginConfig(sharing: SharingConfig): NvidiaPluginConfig {
    const config: NvidiaPluginConfig = { version: "v1", flags: { migStrategy: "none", failOnInitError: true } };
    if (sharing.strategy === "timeSlicing") {
        if (sharing.replicas === undefined) throw new Error("devicePlugin.sharing.replicas is required for timeSlicing");
        config.sharing = {
            timeSlicing: {
                renameByDefault: sharing.renameByDefault,
                failRequestsGreaterThanOne: sharing.failRequestsGreaterThanOne,
                resources: [{ name: GPU_RESOURCE, replicas: sharing.replicas }],
            },
        };
    }
    return config;
}

/** The config file's text (YAML, as NVIDIA's examples write it). */
export function pluginConfigYaml(sharing: SharingConfig): string {
    return toYaml(pluginConfig(sharing));
}

/** Inputs of the manifest-mode objects. */
export interface DevicePluginManifestSpec {
    /** Plugin image, e.g. `nvcr.io/nvidia/k8s-device-plugin:v0.20.0`. */
    image: string;
    /** The validated `devicePlugin.sharing` setting. */
    sharing: SharingConfig;
}

const LABELS = { "app.kubernetes.io/name": MANAGED_PLUGIN_NAME, "app.kubernetes.io/managed-by": "gpu-minikube" };

/**
 * The ConfigMap's name carries a hash of the config: a new config is a new ConfigMap, and the
 * DaemonSet's pod template changes with it, so the plugin restarts and reads it. The plugin reads
 * its config file only at start; NVIDIA's Helm chart adds a config-manager sidecar to signal it,
 * which this plain manifest does without.
 */
export function pluginConfigMapName(sharing: SharingConfig): string {
    const hash = crypto.createHash("sha256").update(pluginConfigYaml(sharing)).digest("hex").slice(0, 8);
    return `${MANAGED_PLUGIN_NAME}-${hash}`;
}

/** The `v1` ConfigMap holding the plugin's config file. */
export function buildPluginConfigMap(spec: DevicePluginManifestSpec) {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: pluginConfigMapName(spec.sharing), namespace: PLUGIN_NAMESPACE, labels: LABELS },
        data: { [PLUGIN_CONFIG_KEY]: pluginConfigYaml(spec.sharing) },
    };
}

/**
 * The `apps/v1` DaemonSet: NVIDIA's static manifest with our name and labels, the config mounted
 * read-only and named by `CONFIG_FILE`, and `FAIL_ON_INIT_ERROR=true` (the plugin's own default,
 * which minikube's addon turns off) so a plugin that finds no GPU crash-loops visibly instead of
 * sitting Running with zero GPUs. Pulumi does not await it (`pulumi.com/skipAwait`): readiness is
 * every node advertising its GPUs, which the device-plugin wait step checks with diagnostics.
 */
export function buildPluginDaemonSet(spec: DevicePluginManifestSpec) {
    const selector = { name: MANAGED_PLUGIN_NAME };
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: {
            name: MANAGED_PLUGIN_NAME,
            namespace: PLUGIN_NAMESPACE,
            labels: LABELS,
            annotations: { "pulumi.com/skipAwait": "true" },
        },
        spec: {
            selector: { matchLabels: selector },
            updateStrategy: { type: "RollingUpdate" },
            template: {
                metadata: { labels: { ...selector, ...LABELS } },
                spec: {
                    tolerations: [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }],
                    priorityClassName: "system-node-critical",
                    containers: [{
                        image: spec.image,
                        name: "nvidia-device-plugin-ctr",
                        env: [
                            { name: "FAIL_ON_INIT_ERROR", value: "true" },
                            { name: "CONFIG_FILE", value: `${PLUGIN_CONFIG_DIR}/${PLUGIN_CONFIG_KEY}` },
                        ],
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                        volumeMounts: [
                            { name: "kubelet-device-plugins-dir", mountPath: "/var/lib/kubelet/device-plugins" },
                            { name: "plugin-config", mountPath: PLUGIN_CONFIG_DIR, readOnly: true },
                        ],
                    }],
                    volumes: [
                        { name: "kubelet-device-plugins-dir", hostPath: { path: "/var/lib/kubelet/device-plugins", type: "Directory" } },
                        { name: "plugin-config", configMap: { name: pluginConfigMapName(spec.sharing) } },
                    ],
                },
            },
        },
    };
}

/** No sharing: what `devicePlugin.sharing` defaults to. */
export const DEFAULT_SHARING: SharingConfig = { strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true };
