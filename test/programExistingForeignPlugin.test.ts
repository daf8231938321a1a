// The whole program under Pulumi's mocks with cluster.mode "existing" and devicePlugin.mode
// "manifest" on a cluster whose GPU nodes already run the GPU Operator's device plugin (the run is
// in test/programExistingForeignPlugin.child.ts): the program fails naming it, and neither plugin
// object is created, so nothing reaches the cluster.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { it } from "node:test";

it("fails naming the other plugin and the node it shares with ours; no ConfigMap or DaemonSet is created", () => {
    const out = execFileSync(process.execPath, ["--import", "tsx", path.join(__dirname, "programExistingForeignPlugin.child.ts")],
        { encoding: "utf8", timeout: 60_000 });
    const { failures, created } = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { failures: string[]; created: string[] };
    assert.ok(failures.length > 0, "the program fails");
    for (const m of failures) {
        assert.ok(m.includes("gpu-minikube:devicePlugin.mode: `manifest` would deploy NVIDIA's device plugin onto nodes where a device " +
            "plugin already runs: gpu-operator/nvidia-device-plugin-daemonset (nvcr.io/nvidia/k8s-device-plugin:v0.17.1) on gpu-b."), m);
        // Ours (same image, in kube-system under our name) is not a conflict; cpu-1 is not a placed node.
        assert.ok(!m.includes("gpu-minikube-nvidia-device-plugin ("), m);
        assert.ok(!m.includes("cpu-1"), m);
    }
    assert.ok(!created.includes("kubernetes:core/v1:ConfigMap") && !created.includes("kubernetes:apps/v1:DaemonSet"), created.join(", "));
});
