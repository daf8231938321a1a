import { parseNvidiaSmi } from "./nvidiaSmi";

/**
 * The GPU-sharing verdict: did `replicas` verification pods, each holding one share, really run at
 * the same time on the host's GPU? Decided from the container start and finish times the kubelet
 * recorded (never from how long anything slept), and from the GPU UUID each pod saw.
 */

/** One pod of the sharing Job, as scripts/verification-sharing.sh reports it. */
export interface SharingPodEvidence {
    /** Pod name. */
    name: string;
    /** Pod phase (`Succeeded`, `Running`, `Pending`, …). */
    phase: string;
    /** Node it ran on, or null while unscheduled. */
    node: string | null;
    /** Container start (RFC 3339), or null if it never started. */
    startedAt: string | null;
    /** Container finish (RFC 3339), or null while running / never started. */
    finishedAt: string | null;
    /** The scheduler's message while the pod is unschedulable now (PodScheduled=False), else null. */
    unschedulable: string | null;
    /** The pod's log (nvidia-smi and its CSV query). */
    log: string;
}

/** Everything the verdict needs. */
export interface SharingEvidence {
    /** `devicePlugin.sharing.strategy` (only `timeSlicing` gets here). */
    strategy: string;
    /** Shares per GPU, and the number of pods that must run at once. */
    replicas: number;
    /** The resource each pod asked one of. */
    resourceName: string;
    /** The Job's pods. */
    pods: SharingPodEvidence[];
    /** FailedScheduling events of those pods: the scheduler's reason for pods that waited. */
    failedScheduling: Array<{ pod: string; message: string }>;
    /** Host GPU UUIDs from preflight. */
    hostGpuUuids: string[];
}

/** `gpuVerification.sharing`. */
export interface GpuSharingResult {
    /** The sharing strategy verified. */
    strategy: string;
    /** Shares per GPU (= pods run at once). */
    replicas: number;
    /** The resource the pods requested, e.g. `nvidia.com/gpu` or `nvidia.com/gpu.shared`. */
    resourceName: string;
    /** The most pods that ran at the same instant (from their container start/finish times). */
    concurrentPods: number;
    /** Every pod saw exactly one GPU, the same one, and it is one of the host's. */
    sameGpu: boolean;
    /** Seconds during which all the pods ran at once (0 when they never all did). */
    overlapSeconds: number;
    /** Pods the scheduler could not place (now or earlier), with its reason, e.g. `Insufficient nvidia.com/gpu`. */
    pendingPods: Array<{ pod: string; reason: string }>;
    /** True only if every check held. */
    passed: boolean;
    /** Why `passed` is false, one sentence each. */
    reasons: string[];
}

const seconds = (t: string | null): number | null => {
    if (t === null || t === "") return null;
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? null : ms / 1000;
};

/**
 * The most intervals that contain one common instant. Intervals are half-open [start, end): one that
 * ends in the very second another starts did not run alongside it (the times have 1 s resolution).
 */
export function maxConcurrent(intervals: Array<[number, number]>): number {
    const points: Array<[number, number]> = [];
    for (const [start, end] of intervals) {
        if (!(end > start)) continue;
        points.push([start, 1], [end, -1]);
    }
    // Ends sort before starts at the same time.
    points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let best = 0;
    for (const [, delta] of points) {
        now += delta;
        best = Math.max(best, now);
    }
    return best;
}

/**
 * Decides `gpuVerification.sharing` (see {@link GpuSharingResult}). `nowMs` ends the interval of a
 * pod that is still running (default: the current time).
 */
export function evaluateSharing(evidence: SharingEvidence, nowMs: number = Date.now()): GpuSharingResult {
    const reasons: string[] = [];
    const { pods, replicas } = evidence;

    const pending = new Map<string, string>();
    for (const e of evidence.failedScheduling) pending.set(e.pod, e.message);
    for (const p of pods) if (p.unschedulable !== null) pending.set(p.name, p.unschedulable);
    const pendingPods = [...pending].map(([pod, reason]) => ({ pod, reason }));
    for (const p of pendingPods) reasons.push(`pod ${p.pod} was Pending: ${p.reason}`);

    if (pods.length !== replicas) reasons.push(`the Job has ${pods.length} pod(s); sharing verification runs ${replicas} (one per share)`);
    const notDone = pods.filter((p) => p.phase !== "Succeeded");
    if (notDone.length > 0) reasons.push(`not every pod ran to completion: ${notDone.map((p) => `${p.name} ${p.phase}`).join(", ")}`);

    // A pod still running counts until now; one that never started has no interval.
    const now = nowMs / 1000;
    const intervals: Array<[number, number]> = [];
    for (const p of pods) {
        const start = seconds(p.startedAt);
        if (start === null) continue;
        intervals.push([start, seconds(p.finishedAt) ?? now]);
    }
    const concurrentPods = maxConcurrent(intervals);
    let overlapSeconds = 0;
    if (intervals.length === pods.length && pods.length > 0) {
        overlapSeconds = Math.max(0, Math.min(...intervals.map((i) => i[1])) - Math.max(...intervals.map((i) => i[0])));
    }
    if (concurrentPods < replicas) {
        reasons.push(`at most ${concurrentPods} of ${replicas} pods ran at the same time (by their container start and finish times); ` +
            `time-slicing should have let all ${replicas} hold a share at once`);
    }

    const hostUuids = new Set(evidence.hostGpuUuids);
    const seen = pods.filter((p) => p.startedAt !== null).map((p) => ({ pod: p.name, uuids: parseNvidiaSmi(p.log).gpus.map((g) => g.uuid) }));
    for (const s of seen) {
        if (s.uuids.length !== 1) reasons.push(`pod ${s.pod} saw ${s.uuids.length} GPUs; one share is one GPU`);
        for (const u of s.uuids) {
            if (u === null) reasons.push(`pod ${s.pod} saw a GPU without a UUID`);
            else if (!hostUuids.has(u)) reasons.push(`pod ${s.pod} saw ${u}, which is not one of the host's GPUs`);
        }
    }
    const distinct = new Set(seen.flatMap((s) => s.uuids));
    const sameGpu = seen.length === pods.length && pods.length > 0 && distinct.size === 1 &&
        seen.every((s) => s.uuids.length === 1) && [...distinct].every((u) => u !== null && hostUuids.has(u));
    // With several host GPUs the plugin may spread shares over them; then at least one GPU must have
    // served two pods, or nothing was shared.
    const shared = sameGpu || seen.length > distinct.size;
    if (!shared) reasons.push(`no two pods saw the same GPU (${[...distinct].join(", ") || "none"}), so no GPU was shared`);
    else if (!sameGpu && hostUuids.size === 1) reasons.push("the pods did not all see the host's one GPU");

    return {
        strategy: evidence.strategy,
        replicas,
        resourceName: evidence.resourceName,
        concurrentPods,
        sameGpu,
        overlapSeconds: Math.round(overlapSeconds * 1000) / 1000,
        pendingPods,
        passed: reasons.length === 0,
        reasons,
    };
}

/** Reads the summary line of scripts/verification-sharing.sh into {@link SharingEvidence} fields. */
export function toSharingPods(summary: Record<string, unknown>): Pick<SharingEvidence, "pods" | "failedScheduling"> {
    const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
    const pods = Array.isArray(summary.pods) ? summary.pods : [];
    const failed = Array.isArray(summary.failedScheduling) ? summary.failedScheduling : [];
    return {
        pods: pods.filter((p): p is Record<string, unknown> => p !== null && typeof p === "object").map((p) => ({
            name: str(p.name) ?? "",
            phase: str(p.phase) ?? "Unknown",
            node: str(p.node),
            startedAt: str(p.startedAt),
            finishedAt: str(p.finishedAt),
            unschedulable: str(p.unschedulable),
            log: str(p.log) ?? "",
        })),
        failedScheduling: failed.filter((e): e is Record<string, unknown> => e !== null && typeof e === "object")
            .map((e) => ({ pod: str(e.pod) ?? "", message: str(e.message) ?? "" })),
    };
}
