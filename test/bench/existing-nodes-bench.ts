// Benchmark: verifying 3 vs 50 GPU nodes of an existing cluster (real control plane, kwok nodes,
// real kubectl). Reports wall time, kubectl calls and polls of scripts/verify-gpu-nodes.sh, and the
// observe probe's time, for each size. Run: node --import tsx test/bench/existing-nodes-bench.ts
// kwok moves each pod Pending → Running → Succeeded after a random 1–5 s per step (the harness's
// Stages), so one node alone takes ~2–10 s: the figures show what the node count adds to that.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { controlPlaneMissing, startControlPlane } from "../harness/controlPlane";
import { countingKubectl, KubectlSetup, observe, verify } from "../harness/existingScripts";

const H200_LOG = fs.readFileSync(path.join(__dirname, "..", "fixtures", "nvidia-smi", "h200b-verification-command.txt"), "utf8");

async function main(): Promise<void> {
    const missing = controlPlaneMissing();
    if (missing) throw new Error(`cannot run: ${missing}`);
    const sizes = (process.env.GM_BENCH_SIZES ?? "3,50").split(",").map(Number);
    const parallelism = Number(process.env.GM_BENCH_PARALLELISM ?? "16");
    const cp = await startControlPlane({});
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-kcache-"));
    const counter = countingKubectl(cp.kubectlPath);
    const k: KubectlSetup = { kubectlPath: cp.kubectlPath, kubeconfig: cp.kubeconfig, cacheDir };
    const rows: string[] = [];
    try {
        await cp.setPodLogs("h200", {}, H200_LOG);
        let have = 0;
        for (const size of sizes) {
            // The cluster grows to SIZE GPU nodes; each size verifies all of them in a fresh namespace.
            if (size > have) {
                await cp.addGpuNodes(`bench-${have}`, size - have, { gpus: 1 });
                have = size;
            }
            const seen = await observe(k);
            const ns = `gm-bench-${size}`;
            await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
            const callsBefore = counter.count();
            const { result, run } = await verify(k, { namespace: ns, nodes: seen.gpuNodes, parallelism, pathFirst: counter.dir, spec: { timeoutSeconds: 600 } });
            const calls = fs.readFileSync(counter.countFile, "utf8").split("\n").filter((l) => l !== "").slice(callsBefore);
            const polls = (run.stderr.match(/\] poll \d+/g) ?? []).length;
            const passed = Object.values(result.nodes).filter((v) => v.passed).length;
            const byVerb: Record<string, number> = {};
            for (const c of calls) {
                const verb = c.split(" ").find((w) => ["get", "create", "delete", "logs", "apply", "patch"].includes(w)) ?? "other";
                byVerb[verb] = (byVerb[verb] ?? 0) + 1;
            }
            rows.push(`${size} nodes: verify ${(run.ms / 1000).toFixed(1)} s, ${polls} polls, ${calls.length} kubectl calls ` +
                `(${Object.entries(byVerb).map(([v, n]) => `${v} ${n}`).join(", ")}), ${passed}/${seen.gpuNodes.length} passed; ` +
                `observe probe ${(seen.run.ms / 1000).toFixed(2)} s`);
            console.log(rows[rows.length - 1]);
        }
    } finally {
        await cp.stop();
        fs.rmSync(cacheDir, { recursive: true, force: true });
        fs.rmSync(counter.dir, { recursive: true, force: true });
    }
    console.log(`\nparallelism ${parallelism}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
    for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
