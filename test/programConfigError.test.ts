// A stack with bad config: the program stops before registering any resource, with one error that
// lists every problem and no stack trace (pulumi.RunError).
import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { programMocks } from "./harness/programMocks";

it("bad config fails before any resource exists, listing every problem", async () => {
    const mocks = programMocks({
        config: {
            profile: "My Lab",
            minikube: { gpus: "amd", cpu: 4 },
            verification: { image: "cuda; rm -rf ~" },
            devicePlugins: "addon",
        },
        scriptStdout: {},
    });
    // Every resource (custom or component) the mocks were asked for, and every invoke.
    const registered = () => [...mocks.created.map((r) => `${r.type} ${r.name}`), ...mocks.invokes.map((i) => `invoke ${i.token}`)];
    await mocks.install();

    // The import is the program run: it must reject, not register anything first.
    await assert.rejects(import("../index"), (err: unknown) => {
        assert.ok(err instanceof pulumi.RunError, `expected RunError, got ${String(err)}`);
        const message = (err as Error).message;
        assert.match(message, /^Invalid gpu-minikube configuration \(5 problems\):/);
        for (const key of ["profile", "minikube.gpus", "minikube.cpu", "verification.image", "devicePlugins"]) {
            assert.ok(message.includes(`gpu-minikube:${key}:`), `${key} missing from:\n${message}`);
        }
        return true;
    });
    assert.deepEqual(registered(), []);
});
