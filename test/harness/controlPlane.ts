import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { KwokStageOptions, kwokSource, kwokStagesConfig } from "./kwokStages";
import { makeTestPki, TestPki } from "./testPki";
import { toolPath, toolsMissing } from "./realTools";

/**
 * A real Kubernetes control plane for one test (issue 11): etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler v1.37.2 as built by `test/tools/build.sh`, and kwok
 * v0.8.0 simulating nodes and their pods (no kubelet, no containers). Everything listens on
 * 127.0.0.1 on ports picked at run time (never the defaults; a taken port makes the component
 * refuse to start and the whole start is retried on new ports), with a fresh CA and certificates per
 * run, and nothing resolves a hostname: the API server reaches kwok's "kubelet" by the node's
 * InternalIP 127.0.0.1 (`--kubelet-preferred-address-types=InternalIP`).
 *
 * Usage:
 * ```ts
 * const missing = controlPlaneMissing();               // skip (or, under CI, fail) when set
 * const cp = await startControlPlane({ unpullableImages: ["nvidia/cuda:nope"] });
 * try {
 *     await cp.addGpuNode("gpu-1", { gpus: 1 });
 *     await cp.setPodLogs("verify", { namespaces: ["ns"] }, h200NvidiaSmiOutput);
 *     await cp.kubectlOk(["apply", "--server-side", "-f", "-"], { input: JSON.stringify(job) });
 *     // scripts: env GM_KUBECONFIG = cp.kubeconfig, real kubectl from cp.kubectlPath
 * } finally {
 *     await cp.stop();
 * }
 * ```
 *
 * Pods: a pod scheduled onto a kwok node goes Pending (ContainerCreating) → Running → for Job pods
 * Succeeded (exit 0), each step after a random 1–5 s (see `kwokStages.ts`: the shipped kwok Stages,
 * changeable per pod by kwok's `pod-<stage>.stage.kwok.x-k8s.io/delay` annotations), so container
 * start and finish times are real and distinct. Pods of other controllers (DaemonSets, Deployments)
 * stay Running. Logs come from {@link ControlPlane.setPodLogs}. An image listed in
 * {@link ControlPlaneOptions.unpullableImages} never runs: ErrImagePull / ImagePullBackOff with the
 * kubelet's texts.
 *
 * Cost: ~570 MiB and ~5–15 s to start on 2 busy cores; start one per test file (`before`/`after`),
 * not per test, and namespace each test's objects.
 *
 * Cleanup: {@link ControlPlane.stop} stops every process by PID; a process `exit` hook kills what is
 * left, and a small watchdog (one `bash` per control plane) kills the components should the test
 * process die without either (e.g. SIGKILL by the test runner's timeout).
 */

/** Options for {@link startControlPlane}. */
export interface ControlPlaneOptions extends KwokStageOptions {
    /** Milliseconds to wait for the whole control plane to be ready. Default 120000 (2 busy cores). */
    readyTimeoutMs?: number;
}

/** A GPU node simulated by kwok ({@link ControlPlane.addGpuNode}). */
export interface GpuNodeOptions {
    /** `status.capacity` and `status.allocatable` of {@link resourceName}. Required; 0 = none advertised yet. */
    gpus: number;
    /** The extended resource name. Default `nvidia.com/gpu`. */
    resourceName?: string;
    /** Extra labels (e.g. `nvidia.com/gpu.present: "true"`). Default none. */
    labels?: Record<string, string>;
    /** `spec.unschedulable` (a cordoned node). Default false. */
    unschedulable?: boolean;
    /** `spec.taints`. Default none. */
    taints?: { key: string; value?: string; effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute" }[];
    /** Allocatable CPU. Default "16". */
    cpu?: string;
    /** Allocatable memory. Default "64Gi". */
    memory?: string;
    /** Allocatable pods. Default "110". */
    pods?: string;
}

/** Which pods a {@link ControlPlane.setPodLogs} log applies to (kwok's ObjectSelector). */
export interface PodLogSelector {
    /** Namespaces. Default: all. */
    namespaces?: string[];
    /** Pod names. Default: all. */
    pods?: string[];
    /** Container names. Default: all. */
    containers?: string[];
}

/** One kubectl run. */
export interface KubectlResult {
    /** Exit status (null when killed). */
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Why a control plane cannot start here (a missing binary or module source), or undefined. */
export function controlPlaneMissing(): string | undefined {
    if (process.platform !== "linux") return "the test control plane needs Linux";
    const tools = toolsMissing("kubernetes", "kwok");
    if (tools) return tools;
    const src = kwokSource();
    if (src.missing) return src.missing;
    if (!findOnPath("openssl")) return "openssl is not installed (it makes the control plane's certificates)";
    return undefined;
}

/** Ports the components use by default: ours are never these. */
const DEFAULT_PORTS = new Set([2379, 2380, 6443, 8443, 10247, 10248, 10249, 10250, 10255, 10256, 10257, 10259]);
/** Ports this process has handed out (so two control planes in one process never share one). */
const handedOut = new Set<number>();

/** A free 127.0.0.1 port (bound and released, so free at this moment), never a default one. */
export async function freeLoopbackPort(): Promise<number> {
    for (let i = 0; i < 50; i++) {
        const port = await new Promise<number>((resolve, reject) => {
            const srv = net.createServer();
            srv.once("error", reject);
            srv.listen(0, "127.0.0.1", () => {
                const p = (srv.address() as net.AddressInfo).port;
                srv.close(() => resolve(p));
            });
        });
        if (!DEFAULT_PORTS.has(port) && !handedOut.has(port)) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error("could not find a free 127.0.0.1 port");
}

/** True when nothing listens on 127.0.0.1:PORT. */
async function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
}

/** The ports one control plane listens on. */
export interface ControlPlanePorts {
    etcdClient: number;
    etcdPeer: number;
    apiServer: number;
    scheduler: number;
    /** kwok's server: the "kubelet" port of every kwok node (logs). */
    kwok: number;
}

/** Names of the components, in start order. */
type Component = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

/** Starts a control plane; retries on new ports when a component finds its port taken. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const missing = controlPlaneMissing();
    if (missing) throw new Error(missing);
    let lastError: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
        const cp = new ControlPlane(options);
        try {
            await cp.start();
            return cp;
        } catch (err) {
            lastError = err;
            const portTaken = err instanceof PortTakenError;
            await cp.stop();
            if (!portTaken) throw err;
        }
    }
    throw lastError;
}

class PortTakenError extends Error {}

/** A running control plane; see the file's comment. Create with {@link startControlPlane}. */
export class ControlPlane {
    /** Temp dir holding PKI, data, logs and the kubeconfig (removed by {@link stop}). */
    readonly dir: string;
    /** The admin kubeconfig file (mode 600; certificates embedded). */
    readonly kubeconfigPath: string;
    /** The real kubectl v1.37.2. */
    readonly kubectlPath = toolPath("kubernetes", "kubectl");
    private readonly options: ControlPlaneOptions;
    private readonly procs = new Map<Component, ChildProcess>();
    private watchdog: ChildProcess | undefined;
    private readonly exitHook = () => this.killAll("SIGKILL");
    private pki: TestPki | undefined;
    private portsValue: ControlPlanePorts | undefined;
    private stopped = false;

    /** Use {@link startControlPlane}. */
    constructor(options: ControlPlaneOptions) {
        this.options = options;
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-cp-"));
        this.kubeconfigPath = path.join(this.dir, "kubeconfig");
    }

    /** The ports in use. */
    get ports(): ControlPlanePorts {
        if (!this.portsValue) throw new Error("control plane not started");
        return this.portsValue;
    }

    /** The API server's URL, `https://127.0.0.1:<port>`. */
    get server(): string {
        return `https://127.0.0.1:${this.ports.apiServer}`;
    }

    /** The kubeconfig's text (what the program passes the scripts as `GM_KUBECONFIG`). */
    get kubeconfig(): string {
        return fs.readFileSync(this.kubeconfigPath, "utf8");
    }

    /** Environment for running the real kubectl against this cluster (KUBECONFIG, a private discovery cache). */
    kubectlEnv(): Record<string, string> {
        return { KUBECONFIG: this.kubeconfigPath, KUBECACHEDIR: path.join(this.dir, "kubectl-cache") };
    }

    /** @internal Starts every component; throws {@link PortTakenError} when a port was taken. */
    async start(): Promise<void> {
        process.on("exit", this.exitHook);
        const deadline = Date.now() + (this.options.readyTimeoutMs ?? 120_000);
        this.portsValue = {
            etcdClient: await freeLoopbackPort(),
            etcdPeer: await freeLoopbackPort(),
            apiServer: await freeLoopbackPort(),
            scheduler: await freeLoopbackPort(),
            kwok: await freeLoopbackPort(),
        };
        const p = this.portsValue;
        this.pki = makeTestPki(path.join(this.dir, "pki"));
        const pki = this.pki;
        this.writeKubeconfig(pki);
        this.startWatchdog();
        fs.mkdirSync(path.join(this.dir, "logs"), { recursive: true });
        const loop = `127.0.0.1`;

        await this.spawn("etcd", p.etcdClient, [
            "--name=gm", `--data-dir=${path.join(this.dir, "etcd")}`,
            `--listen-client-urls=http://${loop}:${p.etcdClient}`, `--advertise-client-urls=http://${loop}:${p.etcdClient}`,
            `--listen-peer-urls=http://${loop}:${p.etcdPeer}`, `--initial-advertise-peer-urls=http://${loop}:${p.etcdPeer}`,
            `--initial-cluster=gm=http://${loop}:${p.etcdPeer}`,
            // A throwaway test store: no fsync, small quota, quiet.
            "--unsafe-no-fsync", "--quota-backend-bytes=268435456", "--log-level=warn",
        ]);
        await this.waitFor("etcd", deadline, () => httpOk(`http://${loop}:${p.etcdClient}/health`));

        await this.spawn("kube-apiserver", p.apiServer, [
            `--etcd-servers=http://${loop}:${p.etcdClient}`,
            `--bind-address=${loop}`, `--advertise-address=${loop}`, `--secure-port=${p.apiServer}`,
            `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
            `--client-ca-file=${pki.caCert}`,
            `--service-account-key-file=${pki.serviceAccountKey}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            // The API server reaches kwok's "kubelet" (logs) at the node's InternalIP, never by name.
            "--kubelet-preferred-address-types=InternalIP",
            `--kubelet-client-certificate=${pki.adminCert}`, `--kubelet-client-key=${pki.adminKey}`,
            // It would publish 127.0.0.1 as the `kubernetes` Service's endpoint, which is invalid.
            "--endpoint-reconciler-type=none",
            `--cert-dir=${path.join(this.dir, "apiserver-certs")}`,
            "--enable-priority-and-fairness=false",
        ]);
        await this.waitFor("kube-apiserver", deadline, () => this.apiOk("/readyz"));

        // kwok's ClusterLogs CRD (from its module source), before kwok watches it.
        const crd = path.join(kwokSource().dir as string, "kustomize", "crd", "bases", "kwok.x-k8s.io_clusterlogs.yaml");
        await this.kubectlOk(["apply", "--server-side", "-f", crd]);

        await this.spawn("kube-controller-manager", undefined, [
            `--kubeconfig=${this.kubeconfigPath}`, "--secure-port=0", "--leader-elect=false",
            `--root-ca-file=${pki.caCert}`, `--service-account-private-key-file=${pki.serviceAccountKey}`,
            "--use-service-account-credentials=false",
        ]);
        await this.spawn("kube-scheduler", p.scheduler, [
            `--kubeconfig=${this.kubeconfigPath}`, "--leader-elect=false",
            `--bind-address=${loop}`, `--secure-port=${p.scheduler}`,
            `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
            "--authorization-always-allow-paths=/healthz,/readyz,/livez",
        ]);

        const kwokConfig = path.join(this.dir, "kwok.yaml");
        fs.writeFileSync(kwokConfig, kwokStagesConfig(this.options));
        await this.spawn("kwok", p.kwok, [
            `--kubeconfig=${this.kubeconfigPath}`, `--config=${kwokConfig}`,
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            `--node-ip=${loop}`, `--node-port=${p.kwok}`, `--server-address=${loop}:${p.kwok}`,
            `--tls-cert-file=${pki.servingCert}`, `--tls-private-key-file=${pki.servingKey}`,
            "--cidr=10.244.0.1/16", "--node-lease-duration-seconds=40", "--enable-crds=ClusterLogs",
        ], { HOME: this.dir });

        await this.waitFor("kube-scheduler", deadline, () => httpOk(`https://${loop}:${p.scheduler}/readyz`, { ca: pki.caPem }));
        await this.waitFor("kwok", deadline, () => httpOk(`https://${loop}:${p.kwok}/healthz`, { ca: pki.caPem }));
        // The controllers run once they made the default ServiceAccount (pods need it to be admitted).
        await this.waitFor("kube-controller-manager", deadline, async () =>
            (await this.kubectl(["get", "serviceaccount", "default", "-n", "default", "-o", "name"])).code === 0);
    }

    /**
     * Runs the real kubectl against this cluster; never throws on a non-zero exit.
     * `input` is written to its stdin; `timeoutMs` (default 60000) kills it.
     */
    kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
        return new Promise((resolve) => {
            const child = execFile(this.kubectlPath, ["--kubeconfig", this.kubeconfigPath, ...args], {
                env: { ...process.env, ...this.kubectlEnv() },
                timeout: opts.timeoutMs ?? 60_000,
                maxBuffer: 64 * 1024 * 1024,
                encoding: "utf8",
            }, (err, stdout, stderr) => {
                const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null) : 0;
                resolve({ code, stdout, stderr });
            });
            child.stdin?.end(opts.input ?? "");
        });
    }

    /** {@link kubectl}, throwing with its stderr unless it exits 0; returns stdout. */
    async kubectlOk(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
        const res = await this.kubectl(args, opts);
        if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${res.code}: ${res.stderr.trim()}`);
        return res.stdout;
    }

    /** `kubectl apply --server-side` of OBJECTS (as the Pulumi Kubernetes provider applies them). */
    async apply(...objects: object[]): Promise<void> {
        const input = objects.map((o) => YAML.stringify(o)).join("---\n");
        await this.kubectlOk(["apply", "--server-side", "--field-manager=gm-test", "-f", "-"], { input });
    }

    /**
     * Adds a kwok-managed node advertising `gpus` of `resourceName` in capacity and allocatable, with
     * InternalIP 127.0.0.1 (kwok's server answers as its kubelet), and waits until it is Ready and
     * schedulable (kwok initialised it and the node lifecycle controller lifted its not-ready taint).
     */
    async addGpuNode(name: string, opts: GpuNodeOptions): Promise<void> {
        const resource = opts.resourceName ?? "nvidia.com/gpu";
        const resources = { cpu: opts.cpu ?? "16", memory: opts.memory ?? "64Gi", pods: opts.pods ?? "110", [resource]: String(opts.gpus) };
        await this.apply({
            apiVersion: "v1",
            kind: "Node",
            metadata: {
                name,
                annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                labels: {
                    "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok",
                    ...(opts.labels ?? {}),
                },
            },
            spec: { unschedulable: opts.unschedulable ?? false, ...(opts.taints ? { taints: opts.taints } : {}) },
            status: {
                capacity: resources,
                allocatable: resources,
                addresses: [{ type: "InternalIP", address: "127.0.0.1" }, { type: "Hostname", address: name }],
            },
        });
        await this.waitNodesReady([name]);
    }

    /** Adds COUNT GPU nodes named `<prefix>-0` … in one apply (multi-node tests); waits until all are Ready. */
    async addGpuNodes(prefix: string, count: number, opts: GpuNodeOptions): Promise<string[]> {
        const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
        const resource = opts.resourceName ?? "nvidia.com/gpu";
        const resources = { cpu: opts.cpu ?? "16", memory: opts.memory ?? "64Gi", pods: opts.pods ?? "110", [resource]: String(opts.gpus) };
        await this.apply(...names.map((name) => ({
            apiVersion: "v1",
            kind: "Node",
            metadata: {
                name,
                annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok", ...(opts.labels ?? {}) },
            },
            spec: { unschedulable: opts.unschedulable ?? false, ...(opts.taints ? { taints: opts.taints } : {}) },
            status: { capacity: resources, allocatable: resources, addresses: [{ type: "InternalIP", address: "127.0.0.1" }, { type: "Hostname", address: name }] },
        })));
        await this.waitNodesReady(names);
        return names;
    }

    private async waitNodesReady(names: string[], timeoutMs = 60_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        const tpl = '{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}{"\\t"}{.spec.taints[*].key}{"\\n"}{end}';
        let seen = "";
        while (Date.now() < deadline) {
            const res = await this.kubectl(["get", "nodes", "-o", `jsonpath=${tpl}`]);
            seen = res.stdout;
            const ok = new Set(res.stdout.split("\n").map((l) => l.split("\t"))
                .filter(([, ready, taints]) => ready === "True" && !(taints ?? "").includes("node.kubernetes.io/not-ready"))
                .map(([n]) => n));
            if (names.every((n) => ok.has(n))) return;
            await sleep(200);
        }
        throw new Error(`nodes ${names.join(",")} not Ready within ${timeoutMs} ms; seen:\n${seen}\nkwok log:\n${this.logTail("kwok", 20)}`);
    }

    /**
     * Sets NODE's `status.allocatable` and `status.capacity` of RESOURCE to N through the status
     * subresource, as the kubelet does when a device plugin registers (or loses) devices.
     */
    async setAllocatable(node: string, resource: string, n: number): Promise<void> {
        const patch = { status: { capacity: { [resource]: String(n) }, allocatable: { [resource]: String(n) } } };
        await this.kubectlOk(["patch", "node", node, "--subresource=status", "--type=merge", "-p", JSON.stringify(patch)]);
    }

    /**
     * Makes kwok serve TEXT as the log of the selected pods' containers (`kubectl logs`), through a
     * ClusterLogs object NAME whose file is TEXT in the CRI log format the kubelet reads. Each line is
     * stamped a millisecond apart from now, on STREAM (default stdout). Replaces an earlier NAME.
     */
    async setPodLogs(name: string, selector: PodLogSelector, text: string, stream: "stdout" | "stderr" = "stdout"): Promise<void> {
        const file = path.join(this.dir, "logs", `pod-${name}.log`);
        fs.writeFileSync(file, criLog(text, stream));
        await this.apply({
            apiVersion: "kwok.x-k8s.io/v1alpha1",
            kind: "ClusterLogs",
            metadata: { name },
            spec: {
                selector: {
                    ...(selector.namespaces ? { matchNamespaces: selector.namespaces } : {}),
                    ...(selector.pods ? { matchNames: selector.pods } : {}),
                },
                logs: [{ ...(selector.containers ? { containers: selector.containers } : {}), logsFile: file, follow: false }],
            },
        });
    }

    /** The last N lines of COMPONENT's log (for failure messages). */
    logTail(component: Component, n = 30): string {
        try {
            return fs.readFileSync(path.join(this.dir, "logs", `${component}.log`), "utf8").split("\n").slice(-n - 1).join("\n");
        } catch {
            return "(no log)";
        }
    }

    /** PIDs of the running components (to check that none is left after {@link stop}). */
    pids(): number[] {
        return [...this.procs.values()].map((p) => p.pid).filter((p): p is number => typeof p === "number");
    }

    /**
     * Stops every component by PID (SIGTERM, then SIGKILL after 10 s), stops the watchdog and
     * removes the temp dir. Safe to call twice. Set `GM_TEST_KEEP_CONTROL_PLANE=1` to keep the dir.
     */
    async stop(): Promise<void> {
        if (this.stopped) return;
        this.stopped = true;
        const order: Component[] = ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"];
        for (const name of order) {
            const proc = this.procs.get(name);
            if (!proc || proc.exitCode !== null || proc.signalCode !== null) continue;
            const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
            proc.kill("SIGTERM");
            const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
            await exited;
            clearTimeout(timer);
        }
        if (this.watchdog?.pid) {
            try { process.kill(this.watchdog.pid, "SIGKILL"); } catch { /* gone */ }
        }
        process.removeListener("exit", this.exitHook);
        if (!process.env.GM_TEST_KEEP_CONTROL_PLANE) fs.rmSync(this.dir, { recursive: true, force: true });
    }

    private killAll(signal: NodeJS.Signals): void {
        for (const proc of this.procs.values()) {
            if (proc.exitCode === null && proc.signalCode === null) {
                try { proc.kill(signal); } catch { /* gone */ }
            }
        }
        if (this.watchdog?.pid) {
            try { process.kill(this.watchdog.pid, "SIGKILL"); } catch { /* gone */ }
        }
    }

    /**
     * A detached bash that outlives a killed test process: once this process is gone (and
     * {@link stop} never ran), it kills the components whose command line still names our dir.
     */
    private startWatchdog(): void {
        const script = [
            'parent=$1 dir=$2',
            'while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
            'for f in "$dir"/pids/*; do',
            '    [ -e "$f" ] || continue; pid=$(cat "$f")',
            '    if grep -qF "$dir" "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi',
            'done',
            'rm -rf "$dir"',
        ].join("\n");
        fs.mkdirSync(path.join(this.dir, "pids"), { recursive: true });
        this.watchdog = spawn("bash", ["-c", script, "gm-cp-watchdog", String(process.pid), this.dir], { detached: true, stdio: "ignore" });
        this.watchdog.unref();
    }

    private async spawn(name: Component, port: number | undefined, args: string[], env: Record<string, string> = {}): Promise<void> {
        if (port !== undefined && !(await portIsFree(port))) {
            throw new PortTakenError(`${name}: 127.0.0.1:${port} is taken; refusing to share it`);
        }
        const bin = name === "kwok" ? toolPath("kwok") : toolPath("kubernetes", name);
        const log = fs.openSync(path.join(this.dir, "logs", `${name}.log`), "a");
        const child = spawn(bin, args, {
            // Components run with a minimal environment: no proxies, no ambient KUBECONFIG.
            env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: this.dir, ...env },
            stdio: ["ignore", log, log],
        });
        fs.closeSync(log);
        this.procs.set(name, child);
        if (child.pid) fs.writeFileSync(path.join(this.dir, "pids", name), String(child.pid));
        child.on("error", () => { /* reported by waitFor */ });
    }

    private async waitFor(name: Component, deadline: number, ready: () => Promise<boolean>): Promise<void> {
        for (;;) {
            const proc = this.procs.get(name);
            if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
                const tail = this.logTail(name);
                if (/address already in use/i.test(tail)) throw new PortTakenError(`${name} found its port taken:\n${tail}`);
                throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) while starting; its log:\n${tail}`);
            }
            if (await ready().catch(() => false)) return;
            if (Date.now() > deadline) {
                throw new Error(`${name} was not ready within ${this.options.readyTimeoutMs ?? 120_000} ms; its log:\n${this.logTail(name)}`);
            }
            await sleep(150);
        }
    }

    private apiOk(p: string): Promise<boolean> {
        const pki = this.pki as TestPki;
        return httpOk(`${this.server}${p}`, { ca: pki.caPem, cert: pki.adminCertPem, key: pki.adminKeyPem });
    }

    private writeKubeconfig(pki: TestPki): void {
        const b64 = (s: string) => Buffer.from(s).toString("base64");
        const config = {
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "gm-test", cluster: { server: this.server, "certificate-authority-data": b64(pki.caPem) } }],
            users: [{ name: "gm-test-admin", user: { "client-certificate-data": b64(pki.adminCertPem), "client-key-data": b64(pki.adminKeyPem) } }],
            contexts: [{ name: "gm-test", context: { cluster: "gm-test", user: "gm-test-admin" } }],
            "current-context": "gm-test",
        };
        fs.writeFileSync(this.kubeconfigPath, YAML.stringify(config), { mode: 0o600 });
    }
}

/** TEXT as a CRI container log (`<RFC3339Nano> <stream> F <line>` per line), as kubelet's log reader expects. */
export function criLog(text: string, stream: "stdout" | "stderr" = "stdout", start = new Date()): string {
    const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
    return lines.map((line, i) => {
        const t = new Date(start.getTime() + i).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
        return `${t} ${stream} F ${line}\n`;
    }).join("");
}

function httpOk(url: string, tls: { ca?: string; cert?: string; key?: string } = {}): Promise<boolean> {
    return new Promise((resolve) => {
        const isHttps = url.startsWith("https:");
        const get = isHttps ? https.get : http.get;
        const req = get(url, { ...(isHttps ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}), timeout: 2000 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(false));
    });
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

function findOnPath(name: string): string | undefined {
    for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
        const file = path.join(dir, name);
        if (dir && fs.existsSync(file)) return file;
    }
    return undefined;
}
