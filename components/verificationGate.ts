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
 * is saved as an output first and `pulumi up` then fails with its reasons. With PROFILE (minikube
 * mode) a failure is also noted as a failed attempt on the profile, which gives the next `up` fresh
 * verification Jobs (`verification-observe.sh` counts the notes): a Job that completed with a failing
 * verdict (driver or UUID mismatch, too few GPUs, no `Test PASSED`) is checked again then, not only
 * one the wait gave up on. Shared by the minikube and existing-cluster verifications.
 */
export function verificationGate(name: string, verdict: pulumi.Output<GateVerdict>, opts: pulumi.CustomResourceOptions,
    profile?: string): pulumi.Resource {
    return hostScript(`${name}-gate`, {
        create: "verification-gate.sh",
        environment: {
            GM_PASSED: verdict.apply((v) => String(v.passed)),
            GM_REASONS: verdict.apply((v) => v.reasons.join("\n")),
            GM_JOB: verdict.apply((v) => v.job),
            GM_VERIFIED_AT: verdict.apply((v) => v.verifiedAt),
            ...(profile === undefined ? {} : { GM_PROFILE: profile }),
        },
    }, opts);
}
