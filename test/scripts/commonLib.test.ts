import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../harness/simHost";

/**
 * scripts/lib/common.sh's text helpers under the scripts' own shell options (`set -euo pipefail`) and
 * SIGPIPE at its default action, as a host command runs them (the Pulumi command provider is a Go
 * program, which leaves SIGPIPE at default for the commands it starts; some Node versions start
 * children with it ignored, which hid the bug: hence `env --default-signal=PIPE`).
 */

const COMMON = path.join(REPO_ROOT, "scripts", "lib", "common.sh");

function underScriptOptions(body: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
    const res = spawnSync("env", ["--default-signal=PIPE", "bash", "-c", `set -euo pipefail; source "$1"; shift; ${body}`, "_", COMMON, ...args],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe("common.sh text helpers on long outputs (no SIGPIPE under pipefail)", () => {
    // 200,000 lines (1.3 MB, made in the shell: too long for one argument): far beyond a pipe's
    // buffer, so an early-exiting reader would leave the writer blocked on a closed pipe.
    const LONG = 'long=$(seq -f "line %.0f" 1 200000); ';

    it("first_line returns the first non-empty line and the script goes on", () => {
        const run = underScriptOptions(`${LONG}x=$(first_line "$1$long"); printf "%s|done\\n" "$x"`, "\n  \n");
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, "line 1|done\n");
    });

    it("kubectl_error skips klog lines in a long stderr and the script goes on", () => {
        const klog = "E1130 01:26:53.406994    2504 memcache.go:265] couldn't get current server API group list";
        const run = underScriptOptions(`${LONG}x=$(kubectl_error "$1$long"); printf "%s|done\\n" "$x"`,
            `${klog}\n${klog}\nThe connection to the server 127.0.0.1:1 was refused\n`);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, "The connection to the server 127.0.0.1:1 was refused|done\n");
    });

    it("the old form (… | head -n 1) is what fails here, so this test can tell the two apart", () => {
        const run = underScriptOptions(`${LONG}x=$(printf "%s\\n" "$long" | sed "/^[[:space:]]*$/d" | head -n 1); printf "%s|done\\n" "$x"`);
        assert.equal(run.code, 141);
        assert.equal(run.stdout, "");
    });
});

describe("require_kubectl (the wait and probe scripts' shared check)", () => {
    it("no kubectl on PATH: exit 1 with the error naming the fix; with kubectl on PATH: nothing", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-require-kubectl-"));
        try {
            const run = (pathValue: string) => spawnSync("/bin/bash", ["-c", 'PATH="$2"; GM_STAGE=verification; source "$1"; require_kubectl; echo after', "_", COMMON, pathValue],
                { encoding: "utf8" });
            const missing = run(dir);
            assert.equal(missing.status, 1);
            assert.equal(missing.stdout, "");
            assert.match(missing.stderr, /^\[verification\] ERROR: kubectl is not installed \(found: no kubectl on PATH\)\. Fix: install it \(https:\/\/kubernetes\.io\/docs\/tasks\/tools\/install-kubectl-linux\/ or 'sudo snap install kubectl --classic'\), then run 'pulumi up' again\n$/);
            fs.writeFileSync(path.join(dir, "kubectl"), "#!/bin/sh\n", { mode: 0o755 });
            const present = run(dir);
            assert.equal(present.status, 0, present.stderr);
            assert.equal(present.stdout, "after\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
