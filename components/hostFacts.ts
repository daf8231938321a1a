import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { hostProbe, parseSummary } from "./hostCommand";

/** The host's GPU facts as read on this `up` (scripts/host-facts.sh). */
export interface HostFacts {
    /** NVIDIA driver version; null when it could not be read. */
    driverVersion: string | null;
    /** UUIDs of the host's GPUs (`GPU-…`, or `MIG-…` for MIG devices). */
    gpuUuids: string[];
    /** Why the facts could not be read; null when they were. */
    error: string | null;
}

/** Types the probe's summary. */
export function toHostFacts(raw: Record<string, unknown>): HostFacts {
    return {
        driverVersion: typeof raw.driverVersion === "string" && raw.driverVersion !== "" ? raw.driverVersion : null,
        gpuUuids: Array.isArray(raw.gpuUuids) ? raw.gpuUuids.filter((u): u is string => typeof u === "string") : [],
        error: typeof raw.error === "string" && raw.error !== "" ? raw.error : null,
    };
}

/**
 * A short token of the facts that what was verified depends on: it changes when the driver is
 * upgraded or a GPU is swapped, and not when the GPUs are merely listed in another order.
 */
export function hostFactsToken(facts: HostFacts): string {
    return crypto.createHash("sha256")
        .update(JSON.stringify([facts.driverVersion, [...facts.gpuUuids].sort()]))
        .digest("hex").slice(0, 16);
}

/**
 * Reads the host's driver version and GPU UUIDs read-only on every preview and up (an invoke, like
 * the cluster observation), so the verification compares the pod with the host as it is now — not
 * with what preflight recorded on the first `up` — and a driver change re-checks what depends on it.
 */
export function readHostFacts(opts?: pulumi.InvokeOutputOptions): { facts: pulumi.Output<HostFacts>; token: pulumi.Output<string> } {
    const facts = hostProbe("host-facts.sh", {}, opts).apply((out) => toHostFacts(parseSummary(out, "host-facts.sh")));
    return { facts, token: facts.apply(hostFactsToken) };
}
