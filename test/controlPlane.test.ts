import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { buildVerificationJob } from "../components/verificationJob";
import { ControlPlane, controlPlaneMissing, criLog, startControlPlane } from "./harness/controlPlane";
import { skipOrFailUnderCi } from "./harness/realTools";

/**
 * The test control plane itself (issue 11): real etcd, API server, controller manager, scheduler
 * and kwok on loopback. A kwok GPU node runs the verification Job from
 * components/verificationJob.ts, applied server-side as the Pulumi Kubernetes provider applies it;
 * its log comes back through the API server from kwok; everything stops by PID.
 */

const H200_LOG = fs.readFileSync(path.join(__dirname, "fixtures", "nvidia-smi", "smi-combined.txt"), "utf8");
const missing = controlPlaneMissing();

/** Local addresses of the TCP sockets PID listens on (from /proc: its socket inodes, /proc/net/tcp{,6}). */
function listeningAddresses(pid: number): string[] {
    const inodes = new Set<string>();
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
            const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
            if (m) inodes.add(m[1]);
        } catch { /* closed meanwhile */ }
    }
    const out: string[] = [];
    for (const table of ["tcp", "tcp6"]) {
        const lines = fs.readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
        for (const line of lines) {
            const f = line.trim().split(/\s+/);
            // f[1] local address (hex ip:port), f[3] state (0A = LISTEN), f[9] inode
            if (f[3] !== "0A" || !inodes.has(f[9])) continue;
            const [ipHex, portHex] = f[1].split(":");
            const ip = ipHex.length === 8
                ? ipHex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join(".")
                : ipHex;
            out.push(`${ip}:${parseInt(portHex, 16)}`);
        }
    }
    return out;
}

describe("test control plane (real Kubernetes v1.37.2 + kwok)", () => {
    let cp: ControlPlane | undefined;
    before(async () => {
        if (missing) return;
        cp = await startControlPlane({ unpullableImages: ["nvidia/cuda:no-such-tag"] });
    });
    after(async () => { await cp?.stop(); });

    it("listens on 127.0.0.1 only, on ports chosen at run time (never the defaults)", (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ports = Object.values(cp.ports);
        assert.equal(new Set(ports).size, ports.length);
        for (const p of [2379, 2380, 6443, 8443, 10250, 10257, 10259, 10247]) assert.ok(!ports.includes(p), `default port ${p} used`);
        let sockets = 0;
        for (const pid of cp.pids()) {
            for (const addr of listeningAddresses(pid)) {
                sockets++;
                assert.match(addr, /^127\.0\.0\.1:\d+$/, `pid ${pid} listens on ${addr}`);
            }
        }
        assert.ok(sockets >= 4, `found only ${sockets} listening sockets`);
    });

    it("runs the verification Job on a kwok GPU node (server-side apply), with real start/finish times and its log", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = "gm-smoke";
        await cp.addGpuNode("gpu-node-1", { gpus: 1 });
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        await cp.setPodLogs("smoke", { namespaces: [ns] }, H200_LOG);
        const job = buildVerificationJob({ image: "nvidia/cuda:12.5.0-base-ubuntu22.04", gpus: 1, timeoutSeconds: 120, runId: "smoke" }, ns);
        await cp.apply(job);
        await cp.kubectlOk(["-n", ns, "wait", "--for=condition=Complete", `job/${job.metadata.name}`, "--timeout=90s"], { timeoutMs: 100_000 });
        const pod = JSON.parse(await cp.kubectlOk(["-n", ns, "get", "pods", "-l", `job-name=${job.metadata.name}`, "-o", "json"])) as {
            items: { metadata: { name: string }; spec: { nodeName: string }; status: { phase: string; containerStatuses: { state: { terminated: { exitCode: number; startedAt: string; finishedAt: string } } }[] } }[];
        };
        assert.equal(pod.items.length, 1);
        const p = pod.items[0];
        assert.equal(p.spec.nodeName, "gpu-node-1", "scheduled by the real scheduler onto the GPU node");
        assert.equal(p.status.phase, "Succeeded");
        const term = p.status.containerStatuses[0].state.terminated;
        assert.equal(term.exitCode, 0);
        assert.ok(Date.parse(term.startedAt) < Date.parse(term.finishedAt), `startedAt ${term.startedAt} is before finishedAt ${term.finishedAt}`);
        const logs = await cp.kubectl(["-n", ns, "logs", p.metadata.name]);
        assert.equal(logs.code, 0, logs.stderr);
        assert.equal(logs.stdout, H200_LOG, "the log, byte for byte, served by kwok through the API server");
    });

    it("an unpullable image: ErrImagePull then ImagePullBackOff, with the kubelet's event", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const ns = "gm-smoke-pull";
        await cp.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
        const job = buildVerificationJob({ image: "nvidia/cuda:no-such-tag", gpus: 1, timeoutSeconds: 120, runId: "pull" }, ns);
        await cp.apply(job);
        const seen = new Set<string>();
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !(seen.has("ErrImagePull") && seen.has("ImagePullBackOff"))) {
            const r = await cp.kubectl(["-n", ns, "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}"]);
            for (const w of r.stdout.split(/\s+/)) if (w) seen.add(w);
            await new Promise((res) => setTimeout(res, 300));
        }
        assert.ok(seen.has("ErrImagePull") && seen.has("ImagePullBackOff"), `seen: ${[...seen].join(",")}`);
        const events = await cp.kubectlOk(["-n", ns, "get", "events", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"]);
        assert.match(events, /Failed: Failed to pull image "nvidia\/cuda:no-such-tag": /);
    });

    it("stop() leaves no process and no files behind", async (t) => {
        if (!cp) return skipOrFailUnderCi(t, missing as string);
        const pids = cp.pids();
        const dir = cp.dir;
        await cp.stop();
        for (const pid of pids) assert.ok(!fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "), `pid ${pid} still running`);
        assert.ok(!fs.existsSync(dir));
        cp = undefined;
    });
});

describe("criLog", () => {
    it("writes one CRI line per log line, keeping blank lines and stamping increasing times", () => {
        const out = criLog("a\n\nb c\n", "stdout", new Date("2026-11-30T01:00:00.000Z"));
        assert.equal(out, [
            "2026-11-30T01:00:00.000000000Z stdout F a",
            "2026-11-30T01:00:00.001000000Z stdout F ",
            "2026-11-30T01:00:00.002000000Z stdout F b c",
            "",
        ].join("\n"));
    });
});
