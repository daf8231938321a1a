// The real Pulumi CLI v3.274.1 (built by test/tools/build.sh) on our Pulumi.yaml, offline (`unshare -n`)
// with a local file backend in a temp dir and a passphrase: it accepts the project file, and every
// `pulumi config set` example in README.md — read from README.md itself, so a new example is covered
// without touching this test — leaves a stack config that loadConfig (components/config.ts) accepts,
// as the program would receive it. test/readmeExamples.test.ts models the CLI's storage rules; this
// runs the CLI itself. (It cannot run `up` here: the nodejs language host and the provider plugins
// are not served by the Go proxy.)
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, GpuMinikubeConfig, loadConfig } from "../components/config";
import { offlineMissing, runOffline } from "./harness/offline";
import { skipOrFailUnderCi, toolPath, toolsMissing } from "./harness/realTools";

const REPO = path.resolve(__dirname, "..");
const missing = toolsMissing("pulumi") ?? offlineMissing();
/** What `$(kubectl config view --raw --minify --flatten)` reads in the existing-cluster example. */
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n" +
    "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user:\n    token: t\n";

/** A scratch copy of the project with its own HOME, PULUMI_HOME and file backend, all in one temp dir. */
class ScratchProject {
    readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "gm-pulumi-"));
    readonly dir = path.join(this.root, "project");
    readonly home = path.join(this.root, "home");
    readonly state = path.join(this.root, "state");

    constructor() {
        for (const d of [this.dir, this.home, this.state]) fs.mkdirSync(d);
        fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(this.dir, "Pulumi.yaml"));
        fs.writeFileSync(path.join(this.root, "kubeconfig"), KUBECONFIG, { mode: 0o600 });
    }

    env(): Record<string, string> {
        const kubectl = toolsMissing("kubernetes") ? [] : [path.dirname(toolPath("kubernetes", "kubectl"))];
        return {
            PATH: [path.dirname(toolPath("pulumi")), ...kubectl, "/usr/bin", "/bin"].join(":"),
            HOME: this.home,
            PULUMI_HOME: path.join(this.root, "pulumi-home"),
            PULUMI_BACKEND_URL: `file://${this.state}`,
            PULUMI_CONFIG_PASSPHRASE: "gpu-minikube-test-passphrase",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            PULUMI_SKIP_CONFIRMATIONS: "true",
            KUBECONFIG: path.join(this.root, "kubeconfig"),
            LANG: "C.UTF-8",
        };
    }

    /** Runs `pulumi ARGS` offline in the project; throws with its output unless it exits 0. */
    async pulumi(...args: string[]): Promise<string> {
        const run = await runOffline(toolPath("pulumi"), [...args, "--non-interactive"], { env: this.env(), cwd: this.dir, timeoutMs: 120_000 });
        if (run.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
        return run.stdout;
    }

    /** Runs one README line with bash (so `"$(date +%s)"` and the quotes mean what they mean to a user), offline. */
    async shell(line: string): Promise<void> {
        const run = await runOffline("/bin/bash", ["-c", line], { env: this.env(), cwd: this.dir, timeoutMs: 120_000 });
        if (run.code !== 0) throw new Error(`\`${line}\` exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
    }

    /**
     * loadConfig on STACK's config as the engine hands it to the program (`gpu-minikube:<key>` → the
     * value's text; objects as JSON text, secrets decrypted).
     */
    async loadConfig(stack: string): Promise<GpuMinikubeConfig> {
        const json = JSON.parse(await this.pulumi("config", "--json", "--show-secrets", "-s", stack)) as Record<string, { value?: string; secret?: boolean }>;
        const config = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v.value)]));
        const secrets = Object.entries(json).filter(([, v]) => v.secret).map(([k]) => k);
        pulumi.runtime.setAllConfig(config, secrets);
        try {
            return loadConfig();
        } catch (err) {
            throw new Error(`loadConfig rejects stack ${stack} (${JSON.stringify(config)}): ${err instanceof ConfigError ? err.problems.join("; ") : String(err)}`);
        }
    }

    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}

/** The `pulumi config set …` lines of the README's bash blocks (the same reading as readmeExamples.test.ts). */
function configSetCommands(markdown: string): string[] {
    const blocks = [...markdown.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
    return blocks.flatMap((b) => b.split("\n")).map((l) => l.replace(/\s+#.*$/, "").trim())
        .filter((l) => l.startsWith("pulumi config set "));
}

/** Commands for `cluster.mode: existing`: valid only together, never with minikube's keys (as readmeExamples.test.ts splits them). */
const forExistingCluster = (command: string) => /\bcluster\./.test(command);
/** The README's "Use an existing cluster" section: every command in it is for an existing-cluster stack. */
const EXISTING_SECTION = /^## Use an existing cluster\n[\s\S]*?(?=^## )/m;

describe("the real Pulumi CLI on Pulumi.yaml and README's `pulumi config set` examples", () => {
    const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
    const outsideExisting = configSetCommands(readme.replace(EXISTING_SECTION, ""));
    const minikube = outsideExisting.filter((c) => !forExistingCluster(c));
    const existing = [...configSetCommands(readme.match(EXISTING_SECTION)?.[0] ?? ""), ...outsideExisting.filter(forExistingCluster)];
    let project: ScratchProject | undefined;
    before(() => { if (!missing) project = new ScratchProject(); });
    after(() => project?.cleanup());

    it("accepts Pulumi.yaml: `pulumi stack init` of the example stack (Pulumi.dev.yaml), whose config loadConfig accepts", async (t) => {
        if (!project) return skipOrFailUnderCi(t, missing as string);
        fs.copyFileSync(path.join(REPO, "Pulumi.dev.yaml"), path.join(project.dir, "Pulumi.dev.yaml"));
        await project.pulumi("stack", "init", "dev");
        const stacks = JSON.parse(await project.pulumi("stack", "ls", "--json")) as { name: string }[];
        assert.ok(stacks.some((s) => s.name === "dev"), JSON.stringify(stacks));
        assert.ok(fs.readdirSync(project.state).length > 0, "the state is in the temp file backend");
        const config = await project.loadConfig("dev");
        assert.equal(config.minikube.cpus, 4);
        assert.deepEqual(config.minikube.addons, ["ingress"]);
    });

    it("README's minikube examples, one after another on a new stack: loadConfig accepts the config after each", async (t) => {
        if (!project) return skipOrFailUnderCi(t, missing as string);
        assert.ok(minikube.length >= 5, minikube.join("\n"));
        await project.pulumi("stack", "init", "readme");
        let config: GpuMinikubeConfig | undefined;
        for (const line of minikube) {
            await project.shell(line);
            config = await project.loadConfig("readme");
        }
        assert.equal(config?.profile, "lab");
        assert.equal(config?.minikube.cpus, 8, "--path stored an integer");
        assert.deepEqual(config?.minikube.addons, ["ingress", "metrics-server"]);
    });

    it("README's existing-cluster examples on a fresh stack: the secret kubeconfig reaches loadConfig intact", async (t) => {
        if (!project) return skipOrFailUnderCi(t, missing as string);
        const kubectlMissing = toolsMissing("kubernetes");
        if (kubectlMissing) return skipOrFailUnderCi(t, kubectlMissing);
        assert.ok(existing.some((c) => c.includes("--secret --path cluster.kubeconfig")), existing.join("\n"));
        await project.pulumi("stack", "init", "existing");
        for (const line of existing) await project.shell(line);
        const stored = fs.readFileSync(path.join(project.dir, "Pulumi.existing.yaml"), "utf8");
        assert.ok(!stored.includes("token: t"), "the kubeconfig is stored encrypted");
        const config = await project.loadConfig("existing");
        assert.equal(config.cluster.mode, "existing");
        // What `kubectl config view --raw --minify --flatten` printed for it (the real kubectl v1.37.2).
        assert.match(String(config.cluster.kubeconfig), /server: https:\/\/10\.0\.0\.1:6443/);
        assert.match(String(config.cluster.kubeconfig), /token: t/);
    });
});
