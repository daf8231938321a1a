import { parseDocument } from "yaml";

/** Which cluster a kubeconfig points at, once a context is chosen. */
export interface KubeconfigTarget {
    /** The context used (`cluster.context`, else the kubeconfig's `current-context`). */
    context: string;
    /** That context's cluster entry name. */
    cluster: string;
    /** That cluster's API server URL. */
    server: string;
}

/** A kubeconfig that was understood: its target and the text to hand to kubectl and the provider. */
export interface InspectedKubeconfig {
    ok: true;
    target: KubeconfigTarget;
    /** The same kubeconfig with `current-context` set to the chosen context. */
    effective: string;
}

/** Why a kubeconfig cannot be used: one sentence that never quotes the (secret) text. */
export interface KubeconfigProblem {
    ok: false;
    /** Which key the problem is about. */
    key: "cluster.kubeconfig" | "cluster.context";
    /** What is wrong and how to fix it; never contains kubeconfig content. */
    problem: string;
}

const CURRENT_CONTEXT = "current-context";

/**
 * Reads the kubeconfig text of `cluster.kubeconfig` and resolves the context the program will use.
 * Problems never quote the text (it holds credentials): only positions, context and cluster names.
 */
export function inspectKubeconfig(text: string, context?: string): InspectedKubeconfig | KubeconfigProblem {
    const bad = (problem: string, key: KubeconfigProblem["key"] = "cluster.kubeconfig"): KubeconfigProblem => ({ ok: false, key, problem });
    const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
    if (doc.errors.length > 0) {
        const pos = doc.errors[0].linePos?.[0];
        return bad(`is not valid YAML (first error at line ${pos?.line ?? "?"}, column ${pos?.col ?? "?"})`);
    }
    const root: unknown = doc.toJS();
    if (root === null || typeof root !== "object" || Array.isArray(root)) return bad("is not a kubeconfig (not a YAML mapping)");
    const config = root as Record<string, unknown>;
    const contexts = namedEntries(config.contexts, "context");
    const clusters = namedEntries(config.clusters, "cluster");
    if (contexts.length === 0) return bad("lists no contexts (is it a kubeconfig? `kubectl config view --raw --minify --flatten` prints a self-contained one)");
    const names = contexts.map((c) => c.name);
    const wanted = context ?? (typeof config[CURRENT_CONTEXT] === "string" ? config[CURRENT_CONTEXT] : "");
    if (wanted === "") {
        return bad(`sets no current-context; set gpu-minikube:cluster.context to one of: ${names.join(", ")}`, "cluster.context");
    }
    const ctx = contexts.find((c) => c.name === wanted);
    if (!ctx) {
        return bad(`context ${JSON.stringify(wanted)} is not in the kubeconfig; its contexts: ${names.join(", ")}`,
            context === undefined ? "cluster.kubeconfig" : "cluster.context");
    }
    const clusterName = typeof ctx.body.cluster === "string" ? ctx.body.cluster : "";
    const cluster = clusters.find((c) => c.name === clusterName);
    if (!cluster) return bad(`context ${JSON.stringify(wanted)} names cluster ${JSON.stringify(clusterName)}, which the kubeconfig does not define`);
    const server = typeof cluster.body.server === "string" ? cluster.body.server : "";
    if (!/^https?:\/\/[^\s]+$/.test(server)) {
        return bad(`cluster ${JSON.stringify(clusterName)} has no API server URL (clusters[].cluster.server)`);
    }
    // Only rewrite when needed, so an unchanged kubeconfig reaches kubectl byte for byte.
    let effective = text;
    if (doc.get(CURRENT_CONTEXT) !== wanted) {
        doc.set(CURRENT_CONTEXT, wanted);
        effective = doc.toString();
    }
    return { ok: true, target: { context: wanted, cluster: clusterName, server }, effective };
}

/** `[{name, <field>: {...}}]` entries of a kubeconfig list, skipping malformed ones. */
function namedEntries(list: unknown, field: string): Array<{ name: string; body: Record<string, unknown> }> {
    if (!Array.isArray(list)) return [];
    const out: Array<{ name: string; body: Record<string, unknown> }> = [];
    for (const item of list) {
        if (item === null || typeof item !== "object") continue;
        const entry = item as Record<string, unknown>;
        const body = entry[field];
        if (typeof entry.name === "string" && body !== null && typeof body === "object") {
            out.push({ name: entry.name, body: body as Record<string, unknown> });
        }
    }
    return out;
}

