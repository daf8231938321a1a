import { spawn } from "child_process";

/**
 * Runs a real tool that would reach for the network by itself (minikube's update check and image
 * pulls, the Pulumi CLI's update check and plugin downloads) inside a new network namespace with
 * only a loopback device that is down (`unshare -n`): any attempt fails at once and nothing leaves
 * the machine. Root uses `unshare -n`; other users get a user namespace too (`unshare -r -n`).
 */

/** Result of {@link runOffline}. */
export interface OfflineRun {
    /** Exit status (null when killed by the timeout). */
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Why {@link runOffline} cannot work here, or undefined. */
export function offlineMissing(): string | undefined {
    if (process.platform !== "linux") return "network namespaces need Linux";
    return undefined;
}

/** Runs FILE ARGS with exactly ENV (no inherited variables) under `unshare -n`; never throws on failure. */
export function runOffline(file: string, args: string[], opts: { env: Record<string, string>; cwd?: string; input?: string; timeoutMs?: number }): Promise<OfflineRun> {
    const root = typeof process.getuid === "function" && process.getuid() === 0;
    const unshare = root ? ["-n"] : ["-r", "-n"];
    return new Promise((resolve, reject) => {
        const child = spawn("unshare", [...unshare, "--", file, ...args], {
            cwd: opts.cwd,
            env: opts.env,
            stdio: ["pipe", "pipe", "pipe"],
            detached: true,
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
        child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
        const timer = setTimeout(() => {
            try { process.kill(-(child.pid ?? 0), "SIGKILL"); } catch { /* gone */ }
        }, opts.timeoutMs ?? 60_000);
        child.on("error", (err) => { clearTimeout(timer); reject(err); });
        child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
        child.stdin.end(opts.input ?? "");
    });
}
