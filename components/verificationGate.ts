import * as pulumi from "@pulumi/pulumi";
import { hostScript } from "./hostCommand";

/** What the gate step needs to fail `pulumi up` with a verification's verdict. */
export interface GateVerdict {
    /** Whether the verification passed. */
    passed: boolean;
    /** Why it did not pass (empty when it passed). */
    reasons: string[];
    /** The Job (or Jobs) the verdict came from, for the error text. */
    job: string;
    /** When the verification ran; empty when unknown. */
    verifiedAt: string;
}

/**
 * The `verification-gate.sh` step: recorded only when the verdict passed, so a failed verification
 * is saved as an output first and `pulumi up` then fails with its reasons. With NOTE_FAILURE the
 * failure is also noted where the next `up` looks (a failed attempt on the minikube profile, or the
 * existing cluster's run marked incomplete), so that `up` verifies again: a Job that completed with
 * a failing verdict (driver or UUID mismatch, too few GPUs, no `Test PASSED`) is checked again, not
 * only one the wait gave up on. Shared by the minikube and existing-cluster verifications.
 */
export function verificationGate(name: string, verdict: pulumi.Output<GateVerdict>, opts: pulumi.CustomResourceOptions,
    noteFailure: GateFailureNote = {}): pulumi.Resource {
    const run = noteFailure.run;
    return hostScript(`${name}-gate`, {
        create: "verification-gate.sh",
        environment: {
            GM_PASSED: verdict.apply((v) => String(v.passed)),
            GM_REASONS: verdict.apply((v) => v.reasons.join("\n")),
            GM_JOB: verdict.apply((v) => v.job),
            GM_VERIFIED_AT: verdict.apply((v) => v.verifiedAt),
            ...(noteFailure.profile === undefined ? {} : { GM_PROFILE: noteFailure.profile }),
            ...(run === undefined ? {} : {
                GM_NAMESPACE: run.namespace,
                GM_RUN: run.id,
                GM_KUBECONFIG: pulumi.secret(run.kubeconfig),
            }),
        },
    }, opts);
}

/** Where a failing gate notes the failure, so the next `up` verifies again (see {@link verificationGate}). */
export interface GateFailureNote {
    /** minikube mode: the profile whose failed attempts `verification-observe.sh` counts. Default: none. */
    profile?: string;
    /**
     * An existing cluster: the `verify-gpu-nodes.sh` run to mark incomplete on our namespace, which
     * `existing-cluster-observe.sh` turns into a new run on the next `up`. Default: none.
     */
    run?: { namespace: pulumi.Input<string>; id: pulumi.Input<string>; kubeconfig: pulumi.Input<string> };
}
