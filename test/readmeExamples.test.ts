// Every `pulumi config set` command the README shows must store a value our validator accepts,
// stored the way the Pulumi CLI stores it: with `--path`, "true"/"false" become booleans and
// integer-looking values (no leading 0) integers (pulumi sdk/go/common/resource/config/map.go,
// adjustObjectValue); an array index may be at most the array's length ("array index out of range").
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, resolveConfig } from "../components/config";

const README = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
/** What `$(date +%s)` prints when the README's example runs. */
const NOW = "1764464400";

/** The `pulumi config set …` lines of the README's bash blocks. */
export function configSetCommands(markdown: string): string[] {
    const blocks = [...markdown.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);
    return blocks.flatMap((b) => b.split("\n")).map((l) => l.replace(/\s+#.*$/, "").trim())
        .filter((l) => l.startsWith("pulumi config set "));
}

/** What `$(kubectl config view --raw --minify --flatten)` prints in the README's existing-cluster example. */
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters:\n- {name: c, cluster: {server: \"https://10.0.0.1:6443\"}}\n" +
    "contexts:\n- {name: ctx, context: {cluster: c, user: u}}\ncurrent-context: ctx\nusers:\n- {name: u, user: {token: t}}\n";

/** Shell words of a simple command line: quotes removed, `$(date +%s)` and the kubeconfig expanded. */
function words(line: string): string[] {
    const out: string[] = [];
    const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
    for (const m of line.matchAll(re)) {
        out.push((m[1] ?? m[2] ?? m[3]).replace(/\$\(date \+%s\)/g, NOW)
            .replace(/\$\((kubectl config view [^)]*|cat ~\/\.kube\/config)\)/g, KUBECONFIG));
    }
    return out;
}

/** Commands for `cluster.mode: existing`: valid only together (mode + kubeconfig), never with minikube's keys. */
const forExistingCluster = (command: string) => /\bcluster\./.test(command);
/** The README's "Use an existing cluster" section: every command in it is for an existing-cluster stack. */
const EXISTING_SECTION = /^## Use an existing cluster\n[\s\S]*?(?=^## )/m;

type Stack = Record<string, unknown>;

/** A Pulumi property path: `a.b[1]` → ["a", "b", 1]; `a["b.c"]` → ["a", "b.c"]. */
function parsePath(p: string): Array<string | number> {
    const out: Array<string | number> = [];
    // A quoted key (`a["b.c/d"]`) may hold dots, as in label keys (pulumi sdk resource.ParsePropertyPath).
    for (const m of p.matchAll(/\["([^"]*)"\]|([^.[\]]+)|\[(\d+)\]/g)) out.push(m[3] !== undefined ? Number(m[3]) : m[1] ?? m[2]);
    return out;
}

function adjust(value: string): unknown {
    if (value === "true") return true;
    if (value === "false") return false;
    if (value.length > 1 && value.startsWith("0")) return value;
    return /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

/** `pulumi config set [--path] KEY VALUE` applied to a stack's config, as the CLI does it. */
function configSet(stack: Stack, line: string): void {
    const args = words(line).slice(3);
    const usePath = args.includes("--path");
    // --secret changes how the CLI stores the value, not what the program receives.
    const [key, value] = args.filter((a) => a !== "--path" && a !== "--secret");
    assert.ok(key !== undefined && value !== undefined, `cannot read ${line}`);
    const name = key.replace(/^gpu-minikube:/, "");
    if (!usePath) {
        stack[name] = value;
        return;
    }
    const p = parsePath(name);
    if (p.length === 1) {
        stack[name] = value;
        return;
    }
    let cursor: unknown = stack;
    for (let i = 0; i < p.length - 1; i++) {
        const k = p[i];
        const container = cursor as Record<string | number, unknown> & unknown[];
        if (Array.isArray(container) && (k as number) > container.length) assert.fail(`${line}: array index out of range`);
        let next = container[k];
        if (typeof next === "string" && i === 0) next = undefined;
        if (next === undefined || next === null) {
            next = typeof p[i + 1] === "number" ? [] : {};
            container[k] = next;
        }
        cursor = next;
    }
    const last = p[p.length - 1];
    if (Array.isArray(cursor) && (last as number) > cursor.length) assert.fail(`${line}: array index out of range`);
    (cursor as Record<string | number, unknown>)[last] = adjust(value);
}

/** The stack's config as the program receives it: objects as JSON text, plain values as strings. */
function asProgramConfig(stack: Stack): Record<string, unknown> {
    return Object.fromEntries(Object.entries(stack).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

function accepts(stack: Stack, what: string): void {
    try {
        resolveConfig(asProgramConfig(stack));
    } catch (err) {
        assert.fail(`${what} is rejected: ${err instanceof ConfigError ? err.problems.join("; ") : String(err)}`);
    }
}

describe("README config examples", () => {
    const commands = configSetCommands(README);

    it("there are examples to check, including the runId one", () => {
        assert.ok(commands.length >= 5, commands.join("\n"));
        assert.ok(commands.some((c) => c.includes("verification.runId")), "the re-verify example");
    });

    it("the model stores like the CLI: --path makes integers and booleans", () => {
        const stack: Stack = {};
        configSet(stack, `pulumi config set --path verification.runId "$(date +%s)"`);
        configSet(stack, "pulumi config set --path verification.alwaysRerun true");
        assert.deepEqual(stack, { verification: { runId: 1764464400, alwaysRerun: true } });
        assert.throws(() => configSet({}, "pulumi config set --path 'minikube.addons[1]' x"), /array index out of range/);
    });

    // Each example after the ones before it (the README's list builds on itself, e.g. addons[0] then [1]);
    // the existing-cluster commands are checked on their own stack below.
    const outsideExisting = configSetCommands(README.replace(EXISTING_SECTION, ""));
    const minikubeCommands = outsideExisting.filter((c) => !forExistingCluster(c));
    minikubeCommands.forEach((command, i) => {
        it(`after the examples before it: ${command}`, () => {
            const stack: Stack = {};
            for (const earlier of minikubeCommands.slice(0, i + 1)) configSet(stack, earlier);
            accepts(stack, command);
        });
    });

    it("all of them in order, on one stack (the minikube examples)", () => {
        const stack: Stack = {};
        for (const command of minikubeCommands) configSet(stack, command);
        accepts(stack, "the README's examples together");
    });

    it("the existing-cluster commands, in order, on a fresh stack", () => {
        const existing = [...configSetCommands(README.match(EXISTING_SECTION)?.[0] ?? ""), ...outsideExisting.filter(forExistingCluster)];
        assert.ok(existing.some((c) => c.includes("cluster.mode existing")) && existing.some((c) => c.includes("--secret --path cluster.kubeconfig")),
            existing.join("\n"));
        const stack: Stack = {};
        for (const command of existing) configSet(stack, command);
        accepts(stack, existing.join(" && "));
        assert.equal(resolveConfig(asProgramConfig(stack)).cluster.kubeconfig, KUBECONFIG);
    });
});
