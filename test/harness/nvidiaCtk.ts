import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findExecutable, isExecutable } from "./executable";

/**
 * The real NVIDIA Container Toolkit CLI for the script tests (issue 6): built from its Go module at a
 * pinned version into a cache dir outside the repo, and reused when present. `.ci/run` builds it the
 * same way before `npm test`; run this file directly (`node --import tsx test/harness/nvidiaCtk.ts`)
 * to build it by hand.
 */

/** The pinned nvidia-ctk version. */
export const NVIDIA_CTK_VERSION = "v1.20.0";
/** Its Go module path. */
export const NVIDIA_CTK_MODULE = "github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-ctk";

/** Cache root: `$GM_TEST_CACHE`, else `~/.cache/gpu-minikube-test` (as in `.ci/run`). */
export function testCacheDir(): string {
    return process.env.GM_TEST_CACHE ?? path.join(os.homedir(), ".cache", "gpu-minikube-test");
}

/** Where the pinned nvidia-ctk lives once built. */
export function nvidiaCtkPath(): string {
    return path.join(testCacheDir(), `nvidia-ctk-${NVIDIA_CTK_VERSION}`, "nvidia-ctk");
}

/** The real nvidia-ctk, or why it is not available. */
export type NvidiaCtk = { path: string; missing?: undefined } | { path?: undefined; missing: string };

let cached: NvidiaCtk | undefined;

/**
 * Returns the cached nvidia-ctk, building it with `go install` when it is missing and Go is present.
 * The build goes to a private temp GOBIN and is renamed into place, so concurrent test files are safe.
 */
export function ensureNvidiaCtk(): NvidiaCtk {
    if (cached) return cached;
    cached = build();
    return cached;
}

function build(): NvidiaCtk {
    const target = nvidiaCtkPath();
    if (isExecutable(target)) return { path: target };
    const go = findExecutable("go", ["/usr/local/go/bin", "/usr/lib/go/bin"]);
    if (!go) {
        return { missing: `the real nvidia-ctk is not built (${target}) and no Go toolchain was found to build it (${NVIDIA_CTK_MODULE}@${NVIDIA_CTK_VERSION})` };
    }
    const dir = path.dirname(target);
    fs.mkdirSync(dir, { recursive: true });
    const gobin = fs.mkdtempSync(path.join(dir, ".build-"));
    try {
        const started = Date.now();
        process.stderr.write(`# building nvidia-ctk ${NVIDIA_CTK_VERSION} with ${go} into ${dir} (once; cached)\n`);
        execFileSync(go, ["install", `${NVIDIA_CTK_MODULE}@${NVIDIA_CTK_VERSION}`], {
            env: { ...process.env, GOBIN: gobin, GOFLAGS: "-mod=mod" },
            stdio: ["ignore", "ignore", "pipe"],
            timeout: 15 * 60_000,
        });
        fs.renameSync(path.join(gobin, "nvidia-ctk"), target);
        process.stderr.write(`# built nvidia-ctk in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        return { path: target };
    } catch (err) {
        const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
        return { missing: `building nvidia-ctk failed: ${stderr.trim().split("\n").slice(-3).join(" | ")}` };
    } finally {
        fs.rmSync(gobin, { recursive: true, force: true });
    }
}

if (require.main === module) {
    const ctk = ensureNvidiaCtk();
    if (ctk.path) {
        console.log(ctk.path);
    } else {
        console.error(ctk.missing);
        process.exit(1);
    }
}
