import * as crypto from "crypto";

/** GPU resource names a node may advertise: whole GPUs, or time-sliced shares when renamed. */
export const GPU_RESOURCE_NAMES = ["nvidia.com/gpu", "nvidia.com/gpu.shared"] as const;
/** One of {@link GPU_RESOURCE_NAMES}. */
export type GpuResourceName = (typeof GPU_RESOURCE_NAMES)[number];

/** The columns of one node row, in the order of scripts/lib/gpu-nodes.sh's GPU_NODE_JSONPATH. */
export const NODE_FACT_COLUMNS = [
    "name", "uid", "allocatableGpu", "allocatableShared", "capacityGpu", "capacityShared", "gpuPresent",
    "unschedulable", "ready", "hostname", "product", "driverFull", "driverMajor", "driverMinor", "driverRev",
] as const;

/** What a node advertises about its GPUs, as read from the API server. */
export interface NodeFacts {
    /** Node name. */
    name: string;
    /** metadata.uid: a node deleted and re-registered under the same name gets a new one. */
    uid: string;
    /** The resource the verification pod requests on this node. */
    resourceName: GpuResourceName;
    /** status.allocatable of that resource (0 when absent). */
    allocatable: number;
    /** status.capacity of that resource (0 when absent). */
    capacity: number;
    /** The node advertises a GPU resource (any value, even 0) or carries nvidia.com/gpu.present=true. */
    isGpuNode: boolean;
    /** spec.unschedulable (cordoned). */
    unschedulable: boolean;
    /** The Ready condition's status: "True", "False", "Unknown", or "" when absent. */
    ready: string;
    /** The kubernetes.io/hostname label (the node name when absent). */
    hostname: string;
    /** GPU Feature Discovery's nvidia.com/gpu.product label, e.g. "NVIDIA-H200" (null when absent). */
    product: string | null;
    /** The driver version from GFD's nvidia.com/cuda.driver-version.full, or major.minor.rev labels (null when absent). */
    driverVersion: string | null;
}

const count = (v: string | undefined): number | null => (v !== undefined && /^[0-9]{1,6}$/.test(v) ? Number(v) : null);

/** Parses the script's node rows (tab-separated, one per line); malformed rows are skipped. */
export function parseNodeRows(rows: string): NodeFacts[] {
    const nodes: NodeFacts[] = [];
    for (const line of rows.split("\n")) {
        const cols = line.split("\t");
        if (cols.length < NODE_FACT_COLUMNS.length || cols[0] === "") continue;
        const r = Object.fromEntries(NODE_FACT_COLUMNS.map((c, i) => [c, cols[i]])) as Record<(typeof NODE_FACT_COLUMNS)[number], string>;
        const allocGpu = count(r.allocatableGpu);
        const allocShared = count(r.allocatableShared);
        const advertised = allocGpu !== null || allocShared !== null || count(r.capacityGpu) !== null || count(r.capacityShared) !== null;
        // Whole GPUs first; a node that only advertises shares (renameByDefault) is verified through them.
        const shared = (allocGpu ?? 0) === 0 && (allocShared ?? 0) > 0;
        const driverParts = [r.driverMajor, r.driverMinor, r.driverRev].filter((p) => p !== "");
        nodes.push({
            name: r.name,
            uid: r.uid,
            resourceName: shared ? "nvidia.com/gpu.shared" : "nvidia.com/gpu",
            allocatable: (shared ? allocShared : allocGpu) ?? 0,
            capacity: count(shared ? r.capacityShared : r.capacityGpu) ?? 0,
            isGpuNode: advertised || r.gpuPresent === "true",
            unschedulable: r.unschedulable === "true",
            ready: r.ready,
            hostname: r.hostname !== "" ? r.hostname : r.name,
            product: r.product !== "" ? r.product : null,
            driverVersion: r.driverFull !== "" ? r.driverFull : driverParts.length >= 2 ? driverParts.join(".") : null,
        });
    }
    return nodes;
}

/**
 * The GPU nodes among NODES (already narrowed by `verification.nodeSelector`), sorted by name:
 * a node counts when it advertises a GPU resource in capacity or allocatable — even 0, so a node
 * whose plugin lost its GPUs still gets a (failing) verdict — or carries `nvidia.com/gpu.present=true`.
 */
export function gpuNodes(nodes: NodeFacts[]): NodeFacts[] {
    return nodes.filter((n) => n.isGpuNode).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A token that changes whenever what the verification depends on changes: the cluster (its
 * kube-system uid) or any GPU node's identity, schedulability, readiness, GPU resource or labels.
 * It is an input of the verification step, so such a change re-verifies on the next `up` while an
 * unchanged cluster stays a no-op. `options.counts` (default `true`): `false` leaves the GPU counts out.
 */
export function gpuNodesToken(clusterUid: string, nodes: NodeFacts[], incompleteRuns: string[] = [],
    options: { counts?: boolean } = {}): string {
    // Without counts (options.counts false) the allocatable/capacity numbers are left out, and the
    // resource name too: it follows from which resource is advertised.
    const counts = options.counts ?? true;
    const facts = gpuNodes(nodes).map((n) => [n.name, n.uid, ...(counts ? [n.resourceName, n.allocatable, n.capacity] : []),
        n.unschedulable, n.ready, n.hostname, n.product, n.driverVersion]);
    // An incomplete run (a node failed, stuck or timed out, maybe transiently) is retried by the next
    // `up`: its id changes the token. A complete run leaves no id, so an unchanged cluster stays a no-op.
    const retry = [...incompleteRuns].sort();
    return crypto.createHash("sha256").update(JSON.stringify(retry.length > 0 ? [clusterUid, facts, retry] : [clusterUid, facts]))
        .digest("hex").slice(0, 16);
}
