// Loads the real control-plane harness (test/harness/controlPlane.ts, issue 11) when this branch has
// it. It is written on another branch; until it is merged here, tests that need it skip with this
// reason (and fail under CI, like every real-tool test) instead of breaking the typecheck.
import * as fs from "node:fs";
import * as path from "node:path";

/** The part of the harness's `ControlPlane` the existing-cluster tests use (see its TSDoc). */
export interface ControlPlaneLike {
    readonly kubectlPath: string;
    readonly kubeconfig: string;
    addGpuNode(name: string, opts: { gpus: number; resourceName?: string; labels?: Record<string, string>; unschedulable?: boolean;
        taints?: { key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[] }): Promise<void>;
    addGpuNodes(prefix: string, count: number, opts: { gpus: number }): Promise<string[]>;
    setAllocatable(node: string, resource: string, n: number): Promise<void>;
    setPodLogs(name: string, selector: { namespaces?: string[]; pods?: string[] }, text: string): Promise<void>;
    apply(...objects: object[]): Promise<void>;
    kubectlOk(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
    stop(): Promise<void>;
}

/** The harness module's entry points. */
export interface ControlPlaneHarness {
    controlPlaneMissing(): string | undefined;
    startControlPlane(options?: { unpullableImages?: string[] }): Promise<ControlPlaneLike>;
}

const HARNESS = path.join(__dirname, "controlPlane.ts");

/** The harness, or why there is none here. */
export async function loadControlPlaneHarness(): Promise<ControlPlaneHarness | string> {
    if (!fs.existsSync(HARNESS)) return "test/harness/controlPlane.ts (issue 11) is not merged on this branch yet";
    const harness = (await import(HARNESS)) as ControlPlaneHarness;
    return harness.controlPlaneMissing() ?? harness;
}
