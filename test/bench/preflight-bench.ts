import { HostPrepHost } from "../harness/hostPrepHost";
import { DockerEngine, privateDockerMissing } from "../harness/privateDocker";

/**
 * `npm run bench`: wall time of scripts/preflight.sh in the cases that must fail fast (issue 3: the
 * no-GPU and sudo-needs-a-password cases fail in ≤ 5 s), on the simulated host. Each case runs
 * GM_BENCH_RUNS times (default 10); prints min/median/max and exits 1 if any run took longer than 5 s
 * or did not fail with the expected blocker. Where a private dockerd can run, the no-GPU case is also
 * measured against a real Docker daemon.
 */

const RUNS = Number(process.env.GM_BENCH_RUNS ?? 10);
const LIMIT_MS = 5000;
const INPUTS = { GM_MINIKUBE_GPUS: "all", GM_INSTALL_TOOLKIT: "true", GM_CONFIGURE_DOCKER: "true" };

interface Case {
    name: string;
    setup: (h: HostPrepHost) => void;
    env?: Record<string, string>;
    expect: RegExp;
    realDocker?: boolean;
}

const CASES: Case[] = [
    {
        name: "no GPU: nvidia-smi absent",
        setup: (h) => h.sim.removeStandin("nvidia-smi"),
        expect: /\[preflight\] ERROR: NVIDIA driver not found/,
    },
    {
        name: "no GPU: driver not loaded (nvidia-smi fails)",
        setup: (h) => h.sim.fault("nvidia-smi", { exitCode: 9, stderr: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." }),
        expect: /\[preflight\] ERROR: nvidia-smi cannot talk to the NVIDIA driver/,
    },
    {
        name: "sudo needs a password (non-root, toolkit missing)",
        setup: () => undefined,
        env: { SIM_UID: "1000", SIM_SUDO: "password" },
        expect: /\[preflight\] ERROR: root is needed .* sudo asks for a password/,
    },
    {
        name: "no GPU: nvidia-smi absent, real private dockerd",
        setup: (h) => h.sim.removeStandin("nvidia-smi"),
        expect: /\[preflight\] ERROR: NVIDIA driver not found/,
        realDocker: true,
    },
];

async function main(): Promise<void> {
    const dockerMissing = privateDockerMissing();
    const engine = dockerMissing ? undefined : new DockerEngine();
    let failed = false;
    console.log(`preflight.sh wall time, ${RUNS} runs per case (limit ${LIMIT_MS} ms)`);
    console.log(`${"case".padEnd(52)} ${"min".padStart(7)} ${"median".padStart(7)} ${"max".padStart(7)}  result`);
    try {
        for (const c of CASES) {
            if (c.realDocker && !engine) {
                console.log(`${c.name.padEnd(52)} skipped: ${dockerMissing}`);
                continue;
            }
            const h = HostPrepHost.create();
            const daemon = c.realDocker && engine ? await engine.start(h.sim, h.paths.daemonJson) : undefined;
            try {
                c.setup(h);
                const times: number[] = [];
                let wrong = "";
                for (let i = 0; i < RUNS; i++) {
                    const run = await h.run("preflight.sh", { ...INPUTS, ...c.env }, 30_000);
                    times.push(run.durationMs);
                    if (run.code !== 1 || !c.expect.test(run.stderr)) wrong = `exit ${run.code}; stderr: ${run.stderr.trim().split("\n").pop()}`;
                }
                times.sort((a, b) => a - b);
                const median = times.length % 2 ? times[(times.length - 1) / 2] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
                const max = times[times.length - 1];
                const ok = !wrong && max <= LIMIT_MS;
                failed ||= !ok;
                console.log(`${c.name.padEnd(52)} ${fmt(times[0])} ${fmt(median)} ${fmt(max)}  ${ok ? "ok" : `FAIL ${wrong || `slower than ${LIMIT_MS} ms`}`}`);
            } finally {
                daemon?.stop();
                h.cleanup();
            }
        }
    } finally {
        await engine?.shutdown();
    }
    process.exitCode = failed ? 1 : 0;
}

function fmt(ms: number): string {
    return `${Math.round(ms)}ms`.padStart(7);
}

void main();
