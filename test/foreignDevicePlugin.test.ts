// Reading the observe probe's device-plugin rows and deciding which plugin conflicts with ours
// (the rows as the real API server gives them are in test/scripts/foreignDevicePlugin.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { foreignPluginConflicts, foreignPluginMessage, parseDevicePluginRows } from "../components/foreignDevicePlugin";

const OURS = "kube-system/gpu-minikube-nvidia-device-plugin";

describe("device plugins already in an existing cluster", () => {
    it("reads rows; '?' means the pods could not be listed; malformed rows and non-strings are dropped", () => {
        const rows = [
            "gpu-operator/nvidia-device-plugin-daemonset\tnvcr.io/nvidia/k8s-device-plugin:v0.17.1\tgpu-a gpu-b",
            "kube-system/nvidia-gpu-device-plugin\tgke.gcr.io/nvidia-gpu-device-plugin:v1 busybox:1\t",
            "kube-system/aks-plugin\tmcr.microsoft.com/oss/nvidia/k8s-device-plugin:v0.17.0\t?",
            "no-slash\timage\tnode",
            "Bad/Name\timage\tnode",
            "",
        ].join("\n");
        assert.deepEqual(parseDevicePluginRows(rows), [
            { name: "gpu-operator/nvidia-device-plugin-daemonset", images: ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"], nodes: ["gpu-a", "gpu-b"] },
            { name: "kube-system/nvidia-gpu-device-plugin", images: ["gke.gcr.io/nvidia-gpu-device-plugin:v1", "busybox:1"], nodes: [] },
            { name: "kube-system/aks-plugin", images: ["mcr.microsoft.com/oss/nvidia/k8s-device-plugin:v0.17.0"], nodes: null },
        ]);
        for (const garbage of [undefined, null, 42, {}, ["a/b\tc\td"]]) assert.deepEqual(parseDevicePluginRows(garbage), []);
    });

    it("a conflict is another plugin with a pod on a placed node; ours, pod-less and elsewhere-only plugins are not", () => {
        const plugins = parseDevicePluginRows([
            `${OURS}\tnvcr.io/nvidia/k8s-device-plugin:v0.20.0\tgpu-a gpu-b`,
            "gpu-operator/nvidia-device-plugin-daemonset\tnvcr.io/nvidia/k8s-device-plugin:v0.17.1\tgpu-b gpu-a gpu-b",
            "kube-system/nvidia-gpu-device-plugin\tgke.gcr.io/nvidia-gpu-device-plugin:v1\t",
            "cpu/pinned\tnvcr.io/nvidia/k8s-device-plugin:v0.17.1\tcpu-c",
            "kube-system/aks-plugin\tmcr.microsoft.com/oss/nvidia/k8s-device-plugin:v0.17.0\t?",
        ].join("\n"));
        assert.deepEqual(foreignPluginConflicts(plugins, OURS, ["gpu-a", "gpu-b"]), {
            conflicts: [{ name: "gpu-operator/nvidia-device-plugin-daemonset", images: ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"], nodes: ["gpu-a", "gpu-b"] }],
            unknown: ["kube-system/aks-plugin"],
        });
        assert.deepEqual(foreignPluginConflicts(plugins, OURS, []).conflicts, []);
        assert.deepEqual(foreignPluginConflicts([], OURS, ["gpu-a"]), { conflicts: [], unknown: [] });
    });

    it("the message names the plugin, its image and nodes (at most five), says nothing was deployed and how to fix it", () => {
        const nodes = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"];
        const message = foreignPluginMessage([{ name: "gpu-operator/nvidia-device-plugin-daemonset", images: ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"], nodes }]);
        assert.match(message, /^gpu-minikube:devicePlugin\.mode: /);
        assert.match(message, /gpu-operator\/nvidia-device-plugin-daemonset \(nvcr\.io\/nvidia\/k8s-device-plugin:v0\.17\.1\) on n1, n2, n3, n4, n5 and 2 more\./);
        assert.match(message, /Nothing was deployed\. Fix: .*pulumi config set --path devicePlugin\.mode none.*verification\.nodeSelector/);
    });
});
