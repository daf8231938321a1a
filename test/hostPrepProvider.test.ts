import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerHostOrStop } from "../components/hostPrep";

describe("the docker provider's daemon (scripts/docker-endpoint.sh probe)", () => {
    it("is the endpoint the docker CLI uses", () => {
        assert.equal(dockerHostOrStop({ stage: "docker-endpoint", dockerHost: "ssh://gpu@box", reachable: true, error: null, fix: null }), "ssh://gpu@box");
    });

    it("a daemon that does not answer stops the program with preflight's message, not a provider error", () => {
        assert.throws(() => dockerHostOrStop({
            stage: "docker-endpoint", dockerHost: "unix:///var/run/docker.sock", reachable: false,
            error: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
            fix: "start Docker: 'sudo systemctl start docker'",
        }), /^Error: \[preflight\] ERROR: Docker daemon not reachable \(found: Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?\)\. Fix: start Docker/);
    });
});
