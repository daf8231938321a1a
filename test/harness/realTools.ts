import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isExecutable } from "./executable";

/**
 * Where the real tools the suite runs live (issue 11). `test/tools/build.sh` builds each from the Go
 * module proxy into `$GM_TEST_CACHE/<tool>-<version>/` (`.ci/run` runs it before `npm test`); this
 * file only finds them, it never builds. The versions here must match build.sh's.
 */

/** Kubernetes control plane + kubectl (k8s.io/kubernetes). */
export const K8S_VERSION = "v1.37.2";
/** kwok (sigs.k8s.io/kwok). */
export const KWOK_VERSION = "v0.8.0";
/** minikube (k8s.io/minikube). */
export const MINIKUBE_VERSION = "v1.38.1";
/** Pulumi CLI (github.com/pulumi/pulumi/pkg/v3). */
export const PULUMI_VERSION = "v3.274.1";
/** Docker Engine with CDI (dockerd from github.com/docker/docker, the CLI from github.com/docker/cli). */
export const DOCKER_VERSION = "v28.5.2";

/** A tool build.sh builds, by its cache directory's prefix. */
export type RealTool = "kubernetes" | "kwok" | "minikube" | "pulumi" | "docker";

const VERSIONS: Record<RealTool, string> = {
    kubernetes: K8S_VERSION,
    kwok: KWOK_VERSION,
    minikube: MINIKUBE_VERSION,
    pulumi: PULUMI_VERSION,
    docker: DOCKER_VERSION,
};

/** The binaries build.sh puts into each tool's directory. */
const BINARIES: Record<RealTool, string[]> = {
    kubernetes: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd"],
    kwok: ["kwok"],
    minikube: ["minikube"],
    pulumi: ["pulumi"],
    docker: ["dockerd", "docker"],
};

/** Cache root: `$GM_TEST_CACHE`, else `~/.cache/gpu-minikube-test` (as in `.ci/run` and build.sh). */
export function testCacheDir(): string {
    return process.env.GM_TEST_CACHE ?? path.join(os.homedir(), ".cache", "gpu-minikube-test");
}

/** The directory holding TOOL's binaries once built. */
export function toolDir(tool: RealTool): string {
    return path.join(testCacheDir(), `${tool}-${VERSIONS[tool]}`);
}

/** The path of binary NAME of TOOL (e.g. `toolPath("kubernetes", "kubectl")`). */
export function toolPath(tool: RealTool, name: string = BINARIES[tool][0]): string {
    return path.join(toolDir(tool), name);
}

/** Why TOOLS cannot run here (the first missing binary, with the command that builds it), or undefined. */
export function toolsMissing(...tools: RealTool[]): string | undefined {
    for (const tool of tools) {
        for (const bin of BINARIES[tool]) {
            const file = toolPath(tool, bin);
            if (!isExecutable(file)) {
                return `the real ${bin} (${tool} ${VERSIONS[tool]}) is not built: no ${file}; build it with 'bash test/tools/build.sh ${tool}' (Go from /usr/local/go/bin; cold builds take minutes)`;
            }
        }
    }
    return undefined;
}

/**
 * Skips the calling test with REASON, except under CI (`CI` set, as `.ci/run` does), where a
 * skipped real-tool test would hide a broken setup: there it throws, failing the test.
 */
export function skipOrFailUnderCi(t: { skip: (message?: string) => void }, reason: string): void {
    if (process.env.CI) {
        throw new Error(`CI must run the real-tool tests, but: ${reason}. .ci/run builds every tool with test/tools/build.sh before npm test.`);
    }
    t.skip(reason);
}

/**
 * The Go module cache (`go env GOMODCACHE`), where build.sh's downloads keep each module's source:
 * tests read shipped files (kwok's stages and CRDs, minikube's config types) from there rather than
 * copying them into the repo.
 */
export function goModCache(): string {
    if (process.env.GOMODCACHE) return process.env.GOMODCACHE;
    for (const go of ["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]) {
        try {
            const out = execFileSync(go, ["env", "GOMODCACHE"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
            if (out) return out;
        } catch {
            // try the next one
        }
    }
    return path.join(process.env.GOPATH ?? path.join(os.homedir(), "go"), "pkg", "mod");
}

/** The source directory of MODULE@VERSION in the module cache, or why it is not there. */
export function moduleSource(module: string, version: string): { dir: string; missing?: undefined } | { dir?: undefined; missing: string } {
    // The module cache escapes upper-case letters as "!" + lower case.
    const escaped = module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
    const dir = path.join(goModCache(), `${escaped}@${version}`);
    if (fs.existsSync(dir)) return { dir };
    return { missing: `${module}@${version} is not in the Go module cache (${dir}); 'bash test/tools/build.sh' downloads it` };
}
