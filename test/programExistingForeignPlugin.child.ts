// Child process of programExistingForeignPlugin.test.ts: runs the program under the mocks on a
// cluster whose GPU nodes already run the GPU Operator's device plugin, and prints (one JSON line)
// the errors its failed registrations raised and every resource the mocks were asked to create.
// A separate process because the SDK reports those failures as unhandled rejections, which Node's
// test runner counts against the file that has them.
import { existingKubeconfig, nodeRow, output, Program, programMocks } from "./harness/programMocks";

const ROWS = [nodeRow({ name: "gpu-a", uid: "u-a" }), nodeRow({ name: "gpu-b", uid: "u-b" })].join("\n");
const PLUGINS = [
    "gpu-operator/nvidia-device-plugin-daemonset\tnvcr.io/nvidia/k8s-device-plugin:v0.17.1\tgpu-b cpu-1",
    "kube-system/gpu-minikube-nvidia-device-plugin\tnvcr.io/nvidia/k8s-device-plugin:v0.20.0\tgpu-a gpu-b",
].join("\n");

const mocks = programMocks({
    config: {
        cluster: { mode: "existing", kubeconfig: existingKubeconfig("tok-foreign") },
        devicePlugin: { mode: "manifest" },
    },
    scriptStdout: {
        "existing-cluster-observe.sh": { stage: "existing-cluster-observe", clusterUid: "ks-uid-1", nodes: ROWS, devicePlugins: PLUGINS, devicePluginsError: null },
    },
});
const failures: string[] = [];
process.on("unhandledRejection", (err) => { failures.push(err instanceof Error ? err.message : String(err)); });

void (async () => {
    await mocks.install();
    const program = (await import("../index")) as Program;
    await output(program.kubeconfig);
    for (let i = 0; i < 300 && failures.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // Let the rest of the failed registrations land too.
    await new Promise((r) => setTimeout(r, 300));
    process.stdout.write(`${JSON.stringify({ failures: [...new Set(failures)], created: mocks.created.map((c) => c.type) })}\n`);
    process.exit(0);
})();
