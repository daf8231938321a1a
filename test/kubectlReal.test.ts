// The real kubectl v1.37.2 (built by test/tools/build.sh) against an API server address that
// refuses connections: it prints klog lines (memcache.go) before its own message, and our scripts'
// kubectl_error (scripts/lib/common.sh) must quote kubectl's own line. Loopback only: the refused
// address is a port on 127.0.0.1 that was free a moment ago (kubectl reaches for nothing else; in a
// fresh network namespace loopback would be down and the error a different one).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { it } from "node:test";
import { skipOrFailUnderCi, toolPath, toolsMissing } from "./harness/realTools";
import { REPO_ROOT } from "./harness/simHost";

const missing = toolsMissing("kubernetes");

/** A loopback port nobody listens on (bound, then closed). */
function closedPort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

it("real kubectl, API server refusing: klog lines first; kubectl_error quotes kubectl's own message", async (t) => {
    if (missing) return skipOrFailUnderCi(t, missing);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-kubectl-"));
    try {
        const port = await closedPort();
        const kubeconfig = path.join(dir, "kubeconfig");
        fs.writeFileSync(kubeconfig, [
            "apiVersion: v1", "kind: Config",
            "clusters:", "- name: c", "  cluster:", `    server: https://127.0.0.1:${port}`, "    insecure-skip-tls-verify: true",
            "users:", "- name: u", "  user:", "    token: x",
            "contexts:", "- name: c", "  context:", "    cluster: c", "    user: u",
            "current-context: c", "",
        ].join("\n"), { mode: 0o600 });
        const run = spawnSync(toolPath("kubernetes", "kubectl"),
            ["--kubeconfig", kubeconfig, "--request-timeout=5s", "-n", "ns", "get", "job", "gpu-verify-x", "-o", "jsonpath={.metadata.uid}"],
            { env: { PATH: "/usr/bin:/bin", HOME: dir }, encoding: "utf8", timeout: 60_000 });
        assert.notEqual(run.status, 0);
        const lines = run.stderr.split("\n").filter((l) => l.trim() !== "");
        assert.match(lines[0], /^E\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ memcache\.go:\d+\] /, `kubectl's first stderr line:\n${run.stderr}`);
        const quoted = execFileSync("bash", ["-c", 'source "$1"; kubectl_error "$2"', "_", path.join(REPO_ROOT, "scripts", "lib", "common.sh"), run.stderr],
            { encoding: "utf8" }).trim();
        assert.equal(quoted, `The connection to the server 127.0.0.1:${port} was refused - did you specify the right host or port?`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
