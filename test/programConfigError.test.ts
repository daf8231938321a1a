// A stack with bad config: the program stops before registering any resource, with one error that
// lists every problem and no stack trace (pulumi.RunError).
import assert from "node:assert/strict";
import { it } from "node:test";
import * as pulumi from "@pulumi/pulumi";

it("bad config fails before any resource exists, listing every problem", async () => {
    const registered: string[] = [];
    pulumi.runtime.setAllConfig({
        "gpu-minikube:profile": "My Lab",
        "gpu-minikube:minikube": JSON.stringify({ gpus: "amd", cpu: 4 }),
        "gpu-minikube:verification": JSON.stringify({ image: "cuda; rm -rf ~" }),
        "gpu-minikube:devicePlugins": "addon",
    });
    await pulumi.runtime.setMocks({
        newResource(args) {
            registered.push(`${args.type} ${args.name}`);
            return { id: `${args.name}-id`, state: args.inputs };
        },
        call(args) {
            registered.push(`invoke ${args.token}`);
            return args.inputs;
        },
    }, "gpu-minikube", "test", false);

    await assert.rejects(import("../index"), (err: unknown) => {
        assert.ok(err instanceof pulumi.RunError, `expected RunError, got ${String(err)}`);
        const message = (err as Error).message;
        assert.match(message, /^Invalid gpu-minikube configuration \(5 problems\):/);
        for (const key of ["profile", "minikube.gpus", "minikube.cpu", "verification.image", "devicePlugins"]) {
            assert.ok(message.includes(`gpu-minikube:${key}:`), `${key} missing from:\n${message}`);
        }
        return true;
    });
    assert.deepEqual(registered, []);
});
