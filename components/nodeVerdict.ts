import { NodeFacts } from "./gpuNodes";
import { NvidiaSmiGpu, parseNvidiaSmi } from "./nvidiaSmi";

/** One GPU node's verdict in `gpuVerification.nodes`. */
export interface NodeVerdict {
    /** True only if every check held for this node (see {@link evaluateNode}). */
    passed: boolean;
    /** Why `passed` is false, one sentence each; empty when it passed. */
    reasons: string[];
    /** Driver version the node's pod saw (null when no pod ran). */
    driverVersion: string | null;
    /** CUDA version the node's pod saw. */
    cudaVersion: string | null;
    /** GPUs the node's pod saw. */
    gpus: NvidiaSmiGpu[];
    /** When this node's check ended (ISO 8601, UTC). */
    verifiedAt: string;
}

/** How a node's verification Job ended, as scripts/verify-gpu-nodes.sh reports it. */
export type NodeOutcome = "complete" | "failed" | "stuck" | "timeout" | "skipped" | "absent";

/** What the verification script saw for one node. */
export interface NodeRun {
    /** Node name. */
    node: string;
    /** The outcome. */
    outcome: NodeOutcome;
    /** For failed/stuck/timeout: what Kubernetes said (reason, message, exit code, events). */
    detail: string;
    /** The pod's whole log (complete), or its last lines (failed). */
    log: string;
    /** When the outcome was decided (ISO 8601, UTC). */
    verifiedAt: string;
}

/** Why the script would not start a Job on this node, or null when it is fit to run one. */
export function unfitReason(facts: NodeFacts, gpus: number): string | null {
    if (facts.unschedulable) {
        return `node is cordoned (spec.unschedulable), so no verification pod can run there: ` +
            `\`kubectl uncordon ${facts.name}\`, or leave it out with gpu-minikube:verification.nodeSelector`;
    }
    if (facts.ready !== "True") {
        return `node is not Ready (Ready=${facts.ready || "absent"}): its kubelet does not run pods; check \`kubectl describe node ${facts.name}\``;
    }
    if (facts.allocatable < gpus) {
        return `node advertises ${facts.allocatable} allocatable ${facts.resourceName} (capacity ${facts.capacity}) but ` +
            `verification.gpus asks for ${gpus}: ${facts.allocatable === 0
                ? "its device plugin reports no usable GPU (check the plugin pod on that node and its log)"
                : "lower gpu-minikube:verification.gpus or check the node's device plugin"}`;
    }
    return null;
}

/** `NVIDIA H200` as GPU Feature Discovery spells it in nvidia.com/gpu.product: `NVIDIA-H200`. */
export function gfdProductName(smiName: string): string {
    return smiName.trim().replace(/\s+/g, "-");
}

/**
 * One node's verdict. Without host preflight (an existing cluster), the pod is compared against
 * what the node itself advertises: it must have completed, seen at least `minGpus` GPUs and no
 * more than the node's capacity, each with a UUID; where GPU Feature Discovery labelled the node,
 * every GPU's name must match `nvidia.com/gpu.product` (ignoring GFD's `-SHARED` suffix and MIG
 * details) and the driver version the driver labels.
 */
export function evaluateNode(facts: NodeFacts | undefined, run: NodeRun, minGpus: number): NodeVerdict {
    const reasons: string[] = [];
    const report = parseNvidiaSmi(run.log);
    const done = (): NodeVerdict => ({
        passed: reasons.length === 0,
        reasons,
        driverVersion: report.driverVersion,
        cudaVersion: report.cudaVersion,
        gpus: report.gpus,
        verifiedAt: run.verifiedAt,
    });
    if (facts === undefined || run.outcome === "absent") {
        reasons.push("node is no longer in the cluster (it was listed when this run was planned)");
        return done();
    }
    if (run.outcome === "skipped") {
        reasons.push(unfitReason(facts, minGpus) ?? "node was not verified (it was unfit when the run started)");
        return done();
    }
    if (run.outcome !== "complete") {
        const what = run.outcome === "failed" ? "the verification Job failed"
            : run.outcome === "stuck" ? "the verification pod could not start"
            : "the verification Job did not finish before verification.timeoutSeconds";
        reasons.push(`${what}: ${run.detail || "no detail"}`);
        return done();
    }
    if (report.gpus.length < minGpus) {
        reasons.push(`the pod saw ${report.gpus.length} GPU(s); verification.gpus requires at least ${minGpus}`);
    }
    if (facts.capacity > 0 && report.gpus.length > facts.capacity && facts.resourceName === "nvidia.com/gpu") {
        reasons.push(`the pod saw ${report.gpus.length} GPUs but the node advertises a capacity of ${facts.capacity} nvidia.com/gpu`);
    }
    for (const gpu of report.gpus) {
        if (gpu.uuid === null) reasons.push(`GPU ${gpu.index} in the pod showed no UUID`);
    }
    if (facts.product !== null) {
        const label = facts.product.replace(/-SHARED$/, "");
        for (const gpu of report.gpus) {
            if (gpu.name === "") continue;
            const name = gfdProductName(gpu.name);
            if (label !== name && !label.startsWith(`${name}-MIG-`)) {
                reasons.push(`GPU ${gpu.index} in the pod is a ${gpu.name}, but the node's nvidia.com/gpu.product label says ${facts.product}`);
            }
        }
    }
    if (facts.driverVersion !== null && report.driverVersion !== null && report.driverVersion !== facts.driverVersion) {
        reasons.push(`driver version in the pod (${report.driverVersion}) differs from the node's driver labels (${facts.driverVersion})`);
    }
    if (report.driverVersion === null) {
        const why = report.notes.length > 0 ? ` (${report.notes.join("; ")})` : "";
        reasons.push(`could not read the driver version from the pod's nvidia-smi output${why}`);
    }
    return done();
}

/** The `gpuVerification` stack output of an existing cluster: one verdict per GPU node. */
export interface ClusterVerificationResult {
    /** True only if at least one GPU node exists and every GPU node passed. */
    passed: boolean;
    /** Why `passed` is false: each failing node's reasons prefixed with its name, or why there is no node. */
    reasons: string[];
    /** Node name → its verdict. */
    nodes: Record<string, NodeVerdict>;
    /** When the run ended (the latest node's `verifiedAt`; the run's start when there were no nodes). */
    verifiedAt: string;
    /** The cluster incarnation the verdicts are about (changes when the cluster is rebuilt). */
    clusterIncarnation: string;
    /** Image the Jobs ran. */
    image: string;
}

/** What {@link summarizeNodes} needs besides the script's summary. */
export interface NodeRunContext {
    /** `verification.gpus`. */
    minGpus: number;
    /** Image the Jobs ran. */
    image: string;
    /** The cluster incarnation. */
    clusterIncarnation: string;
    /** The node selector in use, for the "no GPU node" reason. */
    nodeSelector: Record<string, string>;
    /** Fallback time when no node ran (ISO 8601). */
    now: string;
    /**
     * Node name → a problem an earlier stage found on it (the device plugin wait's short nodes):
     * each fails that node's verdict, as its first reason. Nodes not in the run are ignored. Default: `{}`.
     */
    nodeProblems?: Record<string, string>;
}

/** Turns the per-node runs (and the node facts seen at run time) into the stack output. */
export function summarizeNodes(facts: NodeFacts[], runs: NodeRun[], ctx: NodeRunContext): ClusterVerificationResult {
    const byName = new Map(facts.map((f) => [f.name, f]));
    const nodes: Record<string, NodeVerdict> = {};
    const reasons: string[] = [];
    for (const run of [...runs].sort((a, b) => a.node.localeCompare(b.node))) {
        const evaluated = evaluateNode(byName.get(run.node), run, ctx.minGpus);
        const problem = ctx.nodeProblems?.[run.node];
        const verdict = problem === undefined ? evaluated : {
            ...evaluated,
            passed: false,
            reasons: [`the device plugin did not bring this node's GPUs within devicePlugin.timeoutSeconds: ${problem}`, ...evaluated.reasons],
        };
        nodes[run.node] = verdict;
        for (const r of verdict.reasons) reasons.push(`node ${run.node}: ${r}`);
    }
    if (runs.length === 0) {
        const selector = Object.entries(ctx.nodeSelector).map(([k, v]) => `${k}=${v}`).join(",");
        reasons.push(`no GPU node found${selector ? ` among the nodes labelled ${selector} (verification.nodeSelector)` : ""}: ` +
            "no node advertises nvidia.com/gpu (or nvidia.com/gpu.shared) or carries nvidia.com/gpu.present=true; " +
            "check that the cluster's device plugin runs (`kubectl describe node <gpu node>`)");
    }
    const times = runs.map((r) => r.verifiedAt).filter((t) => t !== "").sort();
    return {
        passed: runs.length > 0 && reasons.length === 0,
        reasons,
        nodes,
        verifiedAt: times.length > 0 ? times[times.length - 1] : ctx.now,
        clusterIncarnation: ctx.clusterIncarnation,
        image: ctx.image,
    };
}

/** Reads scripts/verify-gpu-nodes.sh's `nodes` array; entries with an unknown shape are dropped. */
export function toNodeRuns(raw: unknown): NodeRun[] {
    if (!Array.isArray(raw)) return [];
    const outcomes: NodeOutcome[] = ["complete", "failed", "stuck", "timeout", "skipped", "absent"];
    const runs: NodeRun[] = [];
    for (const item of raw) {
        if (item === null || typeof item !== "object") continue;
        const r = item as Record<string, unknown>;
        if (typeof r.node !== "string" || !outcomes.includes(r.outcome as NodeOutcome)) continue;
        runs.push({
            node: r.node,
            outcome: r.outcome as NodeOutcome,
            detail: typeof r.detail === "string" ? r.detail : "",
            log: typeof r.log === "string" ? r.log : "",
            verifiedAt: typeof r.verifiedAt === "string" ? r.verifiedAt : "",
        });
    }
    return runs;
}
