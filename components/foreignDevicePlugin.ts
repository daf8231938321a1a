// Another device plugin on the nodes we would place ours on (`cluster.mode: existing`,
// `devicePlugin.mode: manifest`). A kubelet keeps one plugin endpoint per resource name: when a second
// plugin registers `nvidia.com/gpu`, the kubelet stops the first one's endpoint (kubernetes
// pkg/kubelet/cm/devicemanager/manager.go: `Register` "always accepts newest device plugin", and
// `addEndpoint` "Stops existing endpoint if there is any"), so which plugin serves a node — and how many
// GPUs it advertises, with or without time-slicing — depends on which pod (re)started last. The GPU
// Operator, GKE (`nvidia-gpu-device-plugin`, deployed on every GKE cluster) and EKS/AKS add-ons all run
// one; in that case `devicePlugin.mode: none` verifies with theirs.

/** A device-plugin DaemonSet the observe probe found (scripts/existing-cluster-observe.sh `devicePlugins`). */
export interface DevicePluginDaemonSet {
    /** `<namespace>/<name>`. */
    name: string;
    /** Image references of its containers. */
    images: string[];
    /** Nodes its pods are on; null when they could not be listed. */
    nodes: string[] | null;
}

/** Reads the probe's `devicePlugins` rows; malformed rows are dropped. */
export function parseDevicePluginRows(raw: unknown): DevicePluginDaemonSet[] {
    if (typeof raw !== "string") return [];
    const result: DevicePluginDaemonSet[] = [];
    for (const line of raw.split("\n")) {
        const [name, images = "", nodes = ""] = line.split("\t");
        if (!name || !/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(name)) continue;
        result.push({
            name,
            images: images.split(" ").filter((i) => i !== ""),
            nodes: nodes.trim() === "?" ? null : nodes.split(" ").filter((n) => n !== ""),
        });
    }
    return result;
}

/** What {@link foreignPluginConflicts} found. */
export interface ForeignPluginCheck {
    /** Plugins (not ours) with a pod on a node ours would run on, and those nodes. */
    conflicts: { name: string; images: string[]; nodes: string[] }[];
    /** Plugins (not ours) whose pods could not be listed: they may run on those nodes. */
    unknown: string[];
}

/**
 * The device plugins other than OWN (`<namespace>/<name>`) that run a pod on one of PLACED_NODES (the
 * nodes our plugin's placement selects). A plugin whose pods are all on other nodes is no conflict.
 */
export function foreignPluginConflicts(plugins: DevicePluginDaemonSet[], own: string, placedNodes: string[]): ForeignPluginCheck {
    const placed = new Set(placedNodes);
    const result: ForeignPluginCheck = { conflicts: [], unknown: [] };
    for (const p of plugins) {
        if (p.name === own) continue;
        if (p.nodes === null) {
            result.unknown.push(p.name);
            continue;
        }
        const overlap = [...new Set(p.nodes.filter((n) => placed.has(n)))].sort();
        if (overlap.length > 0) result.conflicts.push({ name: p.name, images: p.images, nodes: overlap });
    }
    return result;
}

const MAX_NODES_NAMED = 5;

function nodeList(nodes: string[]): string {
    const named = nodes.slice(0, MAX_NODES_NAMED).join(", ");
    return nodes.length > MAX_NODES_NAMED ? `${named} and ${nodes.length - MAX_NODES_NAMED} more` : named;
}

/** The error for CONFLICTS (non-empty): what runs where, why it matters, and the fixes. */
export function foreignPluginMessage(conflicts: ForeignPluginCheck["conflicts"]): string {
    const found = conflicts.map((c) => `${c.name} (${c.images.join(", ") || "no image"}) on ${nodeList(c.nodes)}`).join("; ");
    return "gpu-minikube:devicePlugin.mode: `manifest` would deploy NVIDIA's device plugin onto nodes where a device " +
        `plugin already runs: ${found}. Two plugins register the same resource with each node's kubelet, which keeps ` +
        "only the last one to register, so the node's GPU count would depend on which pod restarted last. Nothing was " +
        "deployed. Fix: verify with the cluster's own plugin (`pulumi config set --path devicePlugin.mode none`), or " +
        "remove that DaemonSet first (GPU Operator: `devicePlugin.enabled: false` in its ClusterPolicy), or narrow " +
        "`verification.nodeSelector` to nodes it does not run on.";
}
