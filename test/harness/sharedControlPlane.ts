// One real control plane per test file for the script tests (issue 11): started in `before`, stopped
// in `after`, with helpers to give a simulated host the real kubectl and to clean up per-test objects.
import * as net from "node:net";
import { after, before } from "node:test";
import { ControlPlane, ControlPlaneOptions, controlPlaneMissing, startControlPlane } from "./controlPlane";
import { skipOrFailUnderCi } from "./realTools";
import { SimHost } from "./simHost";

/** What {@link sharedControlPlane} returns: the file's control plane once `before` ran. */
export interface SharedControlPlane {
    /**
     * The control plane, or undefined after skipping T (or, under CI, failing it) because the real
     * tools are not built here. Call at the top of each test: `const cp = shared.get(t); if (!cp) return;`.
     */
    get(t: { skip: (message?: string) => void }): ControlPlane | undefined;
    /** The control plane when it runs (for after-each cleanup; never skips or fails). */
    current(): ControlPlane | undefined;
    /** A name unique within this file: `<prefix>-<n>` (nodes, namespaces, pods of one test). */
    unique(prefix: string): string;
}

/**
 * Registers `before`/`after` hooks (call it inside a `describe`, or at the top of a file) that start
 * one control plane with OPTIONS for the whole file, run SETUP on it once, and stop it afterwards.
 */
export function sharedControlPlane(options: ControlPlaneOptions = {}, setup?: (cp: ControlPlane) => Promise<void>): SharedControlPlane {
    const missing = controlPlaneMissing();
    let cp: ControlPlane | undefined;
    let count = 0;
    before(async () => {
        if (missing) return;
        cp = await startControlPlane(options);
        if (setup) await setup(cp);
    });
    after(async () => {
        await cp?.stop();
    });
    return {
        get(t) {
            if (cp) return cp;
            skipOrFailUnderCi(t, missing ?? "the control plane did not start (see the before hook's error)");
            return undefined;
        },
        current() {
            return cp;
        },
        unique(prefix) {
            count += 1;
            return `${prefix}-${count}`;
        },
    };
}

/**
 * Puts the real kubectl v1.37.2 on HOST's PATH as `kubectl`, behind the journaling wrapper of
 * {@link SimHost.writeStandin}: calls are recorded (and faults applied) as for a stand-in, then the
 * real binary runs. Its discovery cache is the control plane's (`KUBECACHEDIR`), warm after the
 * first call of the file, as a user's ~/.kube/cache is: a cold cache costs several API requests
 * per call, which on a loaded machine would eat short test deadlines.
 */
export function useRealKubectl(host: SimHost, cp: ControlPlane): void {
    const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    host.writeStandin("kubectl", `export KUBECACHEDIR=${q(cp.kubectlEnv().KUBECACHEDIR)}\nexec ${q(cp.kubectlPath)} "$@"`);
}

/** CP's kubeconfig with its server replaced by SERVER (e.g. an address nothing answers on). */
export function kubeconfigFor(cp: ControlPlane, server: string): string {
    const text = cp.kubeconfig;
    const replaced = text.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: ${server}`);
    if (replaced === text) throw new Error("the control plane's kubeconfig has no 127.0.0.1 server line");
    return replaced;
}

/**
 * A 127.0.0.1 port that accepts TCP connections and never answers (an API server that hangs):
 * every request to it waits until the client gives up. `close()` drops every connection.
 */
export async function blackHoleServer(): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
        sockets.add(s);
        s.on("error", () => { /* the client gave up */ });
        s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    return {
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((resolve) => {
            for (const s of sockets) s.destroy();
            server.close(() => resolve());
        }),
    };
}

/** Deletes NAMES of KIND (cluster-scoped, or in namespace NS), with WAIT until they are gone; absent ones are fine. */
export async function deleteObjects(cp: ControlPlane, kind: string, names: string[], ns?: string, wait = false): Promise<void> {
    if (names.length === 0) return;
    await cp.kubectlOk([...(ns ? ["-n", ns] : []), "delete", kind, ...names, "--ignore-not-found", `--wait=${wait}`, "--timeout=60s"], { timeoutMs: 70_000 });
}
