import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { SimHost, minikubeStartBehaviour, summaryOf, useMinikubeSim } from "../harness/simHost";

/**
 * The host-prep fixes that surface in minikube-start.sh (issue 9): `minikube.force` reaches
 * `minikube start` only as `--force`, and the failures a root login or a compute-only driver cause
 * are mapped to their own fixes.
 */

const PROFILE = "gpu-minikube";

function startEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
        GM_PROFILE: PROFILE, GM_DRIVER: "docker", GM_GPUS: "all", GM_CPUS: "4", GM_MEMORY: "8g",
        GM_KUBERNETES_VERSION: "stable", GM_ADDONS: "ingress", GM_START_TIMEOUT_SECONDS: "30",
        GM_RECREATE_IF_INCOMPATIBLE: "false", GM_START_TOKEN: "absent-1764416400-abcd1234", ...extra,
    };
}

/**
 * What minikube v1.38.1 prints when its node container's prestart hook fails on a compute-only
 * driver: the kic create error with Docker's stderr (shape from kubernetes/minikube#20934 and #20597;
 * the hook's line word for word from NVIDIA/libnvidia-container#388 and ssst0n3/fake-nvidia#6).
 */
const MODESET_FAILURE = [
    "🔥  Creating docker container (CPUs=4, Memory=8192MB) ...",
    "🤦  StartHost failed, but will try again: creating host: create: creating: create kic node: create container: docker run -d -t --privileged --security-opt seccomp=unconfined --tmpfs /tmp --tmpfs /run -v /lib/modules:/lib/modules:ro --hostname gpu-minikube --name gpu-minikube --gpus all --env NVIDIA_DRIVER_CAPABILITIES=all gcr.io/k8s-minikube/kicbase:v0.0.48: exit status 127",
    "stderr:",
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running prestart hook #0: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'",
    "nvidia-container-cli: mount error: stat failed: /dev/nvidia-modeset: no such file or directory: unknown.",
    "❌  Exiting due to GUEST_PROVISION: error provisioning guest: Failed to start host: creating host: create: creating: create kic node: create container: exit status 127",
].join("\n");

describe("minikube-start.sh: root and compute-only drivers", () => {
    let host: SimHost;
    beforeEach(() => {
        host = SimHost.create({ standins: [] });
        useMinikubeSim(host);
    });
    afterEach(() => host.cleanup());

    it("minikube.force false: no --force; true: --force is the only difference", async () => {
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 0, run.stderr);
        const plain = host.calls("minikube", "start")[0].args;
        assert.ok(!plain.includes("--force"));
        const forced = SimHost.create({ standins: [] });
        try {
            useMinikubeSim(forced);
            const run2 = await forced.runScript("minikube-start.sh", startEnv({ GM_MINIKUBE_FORCE: "true" }));
            assert.equal(run2.code, 0, run2.stderr);
            assert.deepEqual(forced.calls("minikube", "start")[0].args, [...plain, "--force"]);
            assert.equal(summaryOf(run2).action, "created");
        } finally {
            forced.cleanup();
        }
    });

    it("rejects a force value that is not a boolean", async () => {
        const run = await host.runScript("minikube-start.sh", startEnv({ GM_MINIKUBE_FORCE: "yes; reboot" }));
        assert.equal(run.code, 1);
        assert.match(run.stderr, /input GM_MINIKUBE_FORCE must be/);
        assert.deepEqual(host.calls("minikube", "start"), []);
    });

    it("the compute-only prestart-hook failure gets the nvidia-modeset fix", async () => {
        minikubeStartBehaviour(host, { failExitCode: 80, failMessage: MODESET_FAILURE });
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 1);
        const error = run.stderr.trim().split("\n").pop() ?? "";
        assert.match(error, /^\[cluster\] ERROR: minikube could not start its node container: the NVIDIA driver has no \/dev\/nvidia-modeset \(a compute-only\/headless install\) \(found: nvidia-container-cli: mount error: stat failed: \/dev\/nvidia-modeset: no such file or directory\)\. Fix: .*issues\/20934.*sudo nvidia-modprobe -m.*sudo modprobe nvidia-modeset.*minikube delete -p gpu-minikube/);
    });

    it("minikube's DRV_AS_ROOT refusal gets the docker-group fix, never 'run as root'", async () => {
        // minikube v1.38.1 cmd/minikube/cmd/start.go: exit 57 (ExDriverPermission) with this reason.
        minikubeStartBehaviour(host, {
            failExitCode: 57,
            failMessage: "🛑  The \"docker\" driver should not be used with root privileges. If you wish to continue as root, use --force.\n❌  Exiting due to DRV_AS_ROOT: The \"docker\" driver should not be used with root privileges.",
        });
        const run = await host.runScript("minikube-start.sh", startEnv());
        assert.equal(run.code, 1);
        const error = run.stderr.trim().split("\n").pop() ?? "";
        assert.match(error, /minikube refuses to run the docker driver as root \(found: Exiting due to DRV_AS_ROOT: .*\)\. Fix: run Pulumi as a normal user in the docker group.*minikube\.force true/);
    });
});
