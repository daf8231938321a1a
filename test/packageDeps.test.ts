// package.json: what the program needs at run time is a dependency, what only tests need is a
// devDependency, and `engines` agrees with the Pulumi SDK we lock.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { it } from "node:test";

const ROOT = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>; devDependencies: Record<string, string>; engines: { node: string };
};
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { engines?: { node?: string }; dev?: boolean; devOptional?: boolean; version?: string; dependencies?: Record<string, string> }>;
};

/** The packages the program's own code (index.ts, components/) imports. */
function programImports(): Set<string> {
    const files = ["index.ts", ...fs.readdirSync(path.join(ROOT, "components")).map((f) => path.join("components", f))];
    const found = new Set<string>();
    for (const f of files.filter((x) => x.endsWith(".ts"))) {
        for (const m of fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(/from "((?:@[^/"]+\/)?[^./"][^/"]*)[^"]*"/g)) found.add(m[1]);
    }
    return found;
}

it("every runtime dependency is used by the program, every package the program imports is one", () => {
    const used = programImports();
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(used.has(dep), `${dep} is a dependency but the program never imports it`);
    const builtins = new Set(["crypto", "fs", "path", "os", "child_process"]);
    for (const imp of used) assert.ok(builtins.has(imp) || imp in pkg.dependencies, `the program imports ${imp}, which is no dependency`);
});

it("the lock file agrees: a devDependency no runtime package needs is marked dev", () => {
    const neededAtRuntime = new Set(Object.entries(lock.packages)
        .filter(([k, v]) => k !== "" && v.dev !== true && v.devOptional !== true)
        .flatMap(([, v]) => Object.keys(v.dependencies ?? {})));
    for (const dep of Object.keys(pkg.devDependencies).filter((d) => !neededAtRuntime.has(d))) {
        const entry = lock.packages[`node_modules/${dep}`];
        assert.ok(entry?.dev === true || entry?.devOptional === true, `${dep} is not marked dev in package-lock.json`);
    }
    assert.equal(lock.packages["node_modules/yaml"]?.dev, true, "yaml is used by tests only");
});

it("engines.node is what the locked @pulumi/pulumi declares (and the lock file's root says the same)", () => {
    const sdk = lock.packages["node_modules/@pulumi/pulumi"];
    assert.equal(sdk.engines?.node, ">=22", `@pulumi/pulumi ${sdk.version} declares ${sdk.engines?.node}`);
    assert.equal(pkg.engines.node, sdk.engines?.node);
    assert.equal(lock.packages[""].engines?.node, pkg.engines.node);
});
