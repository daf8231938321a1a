// Runs the existing-mode scripts the way the program does (inputs only in the environment, the real
// kubectl on PATH) against a test control plane, and turns their summaries into verdicts.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gpuNodes, gpuNodesToken, NodeFacts, parseNodeRows } from "../../components/gpuNodes";
import { parseSummary } from "../../components/hostCommand";
import { buildNodeJobTemplate, NodeJobSpec } from "../../components/nodeJob";
import { ClusterVerificationResult, summarizeNodes, toNodeRuns } from "../../components/nodeVerdict";

const ROOT = path.resolve(__dirname, "..", "..");

/** What a script run returned. */
export interface ScriptRun {
    code: number | null;
    stdout: string;
    stderr: string;
    /** Wall-clock milliseconds. */
    ms: number;
}

/** Where the scripts find kubectl, and a private kubectl cache dir (never ~/.kube). */
export interface KubectlSetup {
    kubectlPath: string;
    kubeconfig: string;
    cacheDir: string;
}

/**
 * A PATH dir whose `kubectl` counts its calls into COUNT_FILE and then runs the real one, so a
 * benchmark can report API round trips as well as time.
 */
export function countingKubectl(realKubectl: string): { dir: string; countFile: string; count(): number } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-kubectl-count-"));
    const countFile = path.join(dir, "calls");
    fs.writeFileSync(countFile, "");
    fs.writeFileSync(path.join(dir, "kubectl"), `#!/usr/bin/env bash\nprintf '%s\\n' "$*" | tr -d '\\n' >>${JSON.stringify(countFile)}; echo >>${JSON.stringify(countFile)}\nexec ${JSON.stringify(realKubectl)} "$@"\n`, { mode: 0o755 });
    return { dir, countFile, count: () => fs.readFileSync(countFile, "utf8").split("\n").filter((l) => l !== "").length };
}

/** Runs scripts/SCRIPT with ENV (plus PATH with kubectl first); never throws on a non-zero exit. */
export function runScript(script: string, env: Record<string, string>, k: KubectlSetup, pathFirst?: string, timeoutMs = 300_000): Promise<ScriptRun> {
    const started = Date.now();
    return new Promise((resolve) => {
        execFile("bash", [path.join(ROOT, "scripts", script)], {
            cwd: ROOT,
            env: {
                PATH: `${pathFirst ?? path.dirname(k.kubectlPath)}:${path.dirname(k.kubectlPath)}:/usr/bin:/bin`,
                HOME: k.cacheDir,
                KUBECACHEDIR: k.cacheDir,
                GM_KUBECONFIG: k.kubeconfig,
                ...env,
            },
            timeout: timeoutMs,
            maxBuffer: 64 * 1024 * 1024,
            encoding: "utf8",
        }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null) : 0;
            resolve({ code, stdout, stderr, ms: Date.now() - started });
        });
    });
}

/** The observe probe's result, as ExistingCluster reads it. */
export interface Observed {
    clusterUid: string;
    nodes: NodeFacts[];
    gpuNodes: string[];
    token: string;
    run: ScriptRun;
}

/** scripts/existing-cluster-observe.sh, parsed as components/existingCluster.ts parses it. */
export async function observe(k: KubectlSetup, nodeSelector = ""): Promise<Observed> {
    const run = await runScript("existing-cluster-observe.sh", { GM_NODE_SELECTOR: nodeSelector }, k);
    if (run.code !== 0) throw new Error(`existing-cluster-observe.sh exited ${run.code}:\n${run.stderr}`);
    const s = parseSummary(run.stdout, "existing-cluster-observe.sh");
    const nodes = parseNodeRows(String(s.nodes));
    return { clusterUid: String(s.clusterUid), nodes, gpuNodes: gpuNodes(nodes).map((n) => n.name), token: gpuNodesToken(String(s.clusterUid), nodes), run };
}

/** Options of {@link verify}. */
export interface VerifyOptions {
    namespace: string;
    nodes: string[];
    spec?: Partial<NodeJobSpec>;
    parallelism?: number;
    stuckSeconds?: number;
    nodeSelector?: string;
    /** PATH dir searched before the real kubectl (e.g. a counting kubectl). */
    pathFirst?: string;
    /** Node → problem an earlier stage found (the device plugin wait's `short` map), as the program passes it. */
    nodeProblems?: Record<string, string>;
}

/** scripts/verify-gpu-nodes.sh, its summary turned into the stack output as GpuNodeVerification does. */
export async function verify(k: KubectlSetup, o: VerifyOptions): Promise<{ result: ClusterVerificationResult; run: ScriptRun; summary: Record<string, unknown> }> {
    const spec: NodeJobSpec = { image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 120, ...o.spec };
    const run = await runScript("verify-gpu-nodes.sh", {
        GM_NAMESPACE: o.namespace,
        GM_NODES: o.nodes.join(" "),
        GM_NODE_SELECTOR: o.nodeSelector ?? "",
        GM_JOB_TEMPLATE: JSON.stringify(buildNodeJobTemplate(spec)),
        GM_GPUS: String(spec.gpus),
        GM_PARALLELISM: String(o.parallelism ?? 16),
        GM_TIMEOUT_SECONDS: String(spec.timeoutSeconds),
        GM_STUCK_SECONDS: String(o.stuckSeconds ?? 15),
    }, k, o.pathFirst);
    if (run.code !== 0) throw new Error(`verify-gpu-nodes.sh exited ${run.code}:\n${run.stderr.slice(-4000)}`);
    const summary = parseSummary(run.stdout, "verify-gpu-nodes.sh");
    const result = summarizeNodes(parseNodeRows(String(summary.facts)), toNodeRuns(summary.nodes), {
        minGpus: spec.gpus, image: spec.image, clusterIncarnation: "test", nodeSelector: {}, now: String(summary.finishedAt),
        nodeProblems: o.nodeProblems,
    });
    return { result, run, summary };
}
