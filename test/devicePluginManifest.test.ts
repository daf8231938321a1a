// Manifest mode's objects: NVIDIA's static manifest plus the config file, validated against the
// Kubernetes schema, and the config file round-tripped through a YAML parser into NVIDIA's format.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { parse as parseYaml } from "yaml";
import type { SharingConfig } from "../components/config";
import {
    buildPluginConfigMap, buildPluginDaemonSet, MANAGED_PLUGIN_NAME, pluginConfigMapName, pluginConfigYaml,
    sharedResourceName, sharesPerGpu,
} from "../components/devicePluginManifest";

const REFERENCE = path.resolve(__dirname, "..", "..", "shared", "reference", "nvidia-device-plugin.v0.20.0.yml");
const IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.20.0";
const NONE: SharingConfig = { strategy: "none", renameByDefault: false, failRequestsGreaterThanOne: true };
const TS4: SharingConfig = { strategy: "timeSlicing", replicas: 4, renameByDefault: false, failRequestsGreaterThanOne: true };
const TS8R: SharingConfig = { strategy: "timeSlicing", replicas: 8, renameByDefault: true, failRequestsGreaterThanOne: false };

type Ds = ReturnType<typeof buildPluginDaemonSet>;

describe("plugin config file", () => {
    it("time-slicing round-trips through YAML into NVIDIA's documented shape", () => {
        // README "With CUDA Time-Slicing": version v1, sharing.timeSlicing.{renameByDefault,
        // failRequestsGreaterThanOne, resources: [{name, replicas}]}.
        assert.deepEqual(parseYaml(pluginConfigYaml(TS4)), {
            version: "v1",
            flags: { migStrategy: "none", failOnInitError: true },
            sharing: { timeSlicing: { renameByDefault: false, failRequestsGreaterThanOne: true, resources: [{ name: "nvidia.com/gpu", replicas: 4 }] } },
        });
        assert.deepEqual(parseYaml(pluginConfigYaml(TS8R)).sharing, {
            timeSlicing: { renameByDefault: true, failRequestsGreaterThanOne: false, resources: [{ name: "nvidia.com/gpu", replicas: 8 }] },
        });
    });

    it("no sharing section without time-slicing", () => {
        assert.deepEqual(parseYaml(pluginConfigYaml(NONE)), { version: "v1", flags: { migStrategy: "none", failOnInitError: true } });
        // replicas left over from an earlier timeSlicing setting does not leak into the file.
        assert.equal(pluginConfigYaml({ ...NONE, replicas: 4 }), pluginConfigYaml(NONE));
    });

    it("resource name and shares per GPU follow the setting", () => {
        assert.equal(sharedResourceName(NONE), "nvidia.com/gpu");
        assert.equal(sharedResourceName({ ...NONE, renameByDefault: true }), "nvidia.com/gpu", "renaming only applies to time-slicing");
        assert.equal(sharedResourceName(TS4), "nvidia.com/gpu");
        assert.equal(sharedResourceName(TS8R), "nvidia.com/gpu.shared");
        assert.deepEqual([sharesPerGpu(NONE), sharesPerGpu(TS4), sharesPerGpu(TS8R)], [1, 4, 8]);
    });
});

describe("ConfigMap", () => {
    it("validates against the Kubernetes schema and holds the config file", () => {
        const cm = buildPluginConfigMap({ image: IMAGE, sharing: TS4 });
        assert.doesNotThrow(() => new ConfigMap(cm).validate());
        assert.equal(cm.metadata.namespace, "kube-system");
        assert.deepEqual(Object.keys(cm.data), ["config.yaml"]);
        assert.equal(cm.data["config.yaml"], pluginConfigYaml(TS4));
    });

    it("its name changes with the config, so the DaemonSet rolls and the plugin re-reads it", () => {
        const names = [NONE, TS4, TS8R, { ...TS4, replicas: 5 }].map(pluginConfigMapName);
        assert.equal(new Set(names).size, 4);
        for (const n of names) assert.match(n, /^gpu-minikube-nvidia-device-plugin-[0-9a-f]{8}$/);
        assert.equal(pluginConfigMapName(TS4), pluginConfigMapName({ ...TS4 }), "stable for the same config");
    });
});

describe("DaemonSet", () => {
    const ds: Ds = buildPluginDaemonSet({ image: IMAGE, sharing: TS4 });
    const container = ds.spec.template.spec.containers[0];

    it("validates against the Kubernetes schema", () => {
        assert.doesNotThrow(() => new DaemonSet(ds as ConstructorParameters<typeof DaemonSet>[0]).validate());
        const broken = structuredClone(ds) as unknown as { spec: { selector?: unknown } };
        delete broken.spec.selector;
        assert.throws(() => new DaemonSet(broken as ConstructorParameters<typeof DaemonSet>[0]).validate(), "the schema check can fail");
    });

    it("keeps what NVIDIA's static v0.20.0 manifest sets", (t) => {
        if (!fs.existsSync(REFERENCE)) {
            t.skip(`${REFERENCE} not present`);
            return;
        }
        const ref = parseYaml(fs.readFileSync(REFERENCE, "utf8")) as Ds;
        const refPod = ref.spec.template.spec;
        const refCtr = refPod.containers[0];
        assert.equal(container.image, refCtr.image);
        assert.equal(container.name, refCtr.name);
        assert.deepEqual(container.securityContext, refCtr.securityContext);
        assert.deepEqual(ds.spec.template.spec.tolerations, refPod.tolerations);
        assert.equal(ds.spec.template.spec.priorityClassName, refPod.priorityClassName);
        assert.deepEqual(ds.spec.updateStrategy, ref.spec.updateStrategy);
        assert.equal(ds.metadata.namespace, ref.metadata.namespace);
        assert.deepEqual(ds.spec.template.spec.volumes[0], refPod.volumes[0]);
        assert.deepEqual(container.volumeMounts[0], refCtr.volumeMounts[0]);
    });

    it("does not share minikube's addon's name or labels (no take-over either way)", () => {
        assert.equal(ds.metadata.name, MANAGED_PLUGIN_NAME);
        assert.notEqual(ds.metadata.name, "nvidia-device-plugin-daemonset");
        assert.notEqual(ds.spec.selector.matchLabels.name, "nvidia-device-plugin-ds");
        assert.deepEqual(ds.spec.selector.matchLabels, { name: MANAGED_PLUGIN_NAME });
        for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) {
            assert.equal((ds.spec.template.metadata.labels as Record<string, string>)[k], v);
        }
    });

    it("fails on init errors and reads the mounted config through CONFIG_FILE", () => {
        const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
        assert.equal(env.FAIL_ON_INIT_ERROR, "true");
        const mount = container.volumeMounts.find((m) => m.name === "plugin-config");
        assert.ok(mount);
        assert.equal(mount.readOnly, true);
        assert.equal(env.CONFIG_FILE, `${mount.mountPath}/config.yaml`);
        const volume = ds.spec.template.spec.volumes.find((v) => v.name === "plugin-config") as { configMap: { name: string } };
        assert.equal(volume.configMap.name, buildPluginConfigMap({ image: IMAGE, sharing: TS4 }).metadata.name);
    });

    it("uses the configured image and is not awaited by Pulumi", () => {
        const other = buildPluginDaemonSet({ image: "registry.local:5000/k8s-device-plugin:v0.20.0", sharing: NONE });
        assert.equal(other.spec.template.spec.containers[0].image, "registry.local:5000/k8s-device-plugin:v0.20.0");
        assert.equal(ds.metadata.annotations["pulumi.com/skipAwait"], "true");
    });
});
