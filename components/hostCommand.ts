import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/**
 * How every host action is run: `bash ./scripts/<script>`, inputs only through environment
 * variables. It is the one place to change for a later remote-host (SSH) mode.
 *
 * No command sets `dir`: Pulumi stores it in state, so a moved or re-cloned checkout would show a
 * diff on every step and break every delete (`chdir …: no such file or directory`). Without `dir`
 * the command provider runs commands in the project root (seen with the real engine, CLI 3.274 and
 * command 1.2.1), and the scripts find their library through `$0`, never through the caller's cwd.
 */

/** Absolute path of the project root (where `scripts/` lives). */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** Absolute path of the host scripts. */
export const SCRIPTS_DIR = path.join(PROJECT_ROOT, "scripts");

/** Arguments of {@link hostScript}. */
export interface HostScriptArgs {
    /** Script run on create and on every input change (re-run in place), relative to `scripts/`. */
    create: string;
    /** Script run on `pulumi destroy`, relative to `scripts/`. Default: none (nothing to undo). */
    delete?: string;
    /**
     * The script's inputs. Every value reaches the script as an environment variable, never as
     * part of the command string. Default: none.
     */
    environment?: Record<string, pulumi.Input<string>>;
    /**
     * The script's stdout carries a secret (e.g. a kubeconfig): stdout is then kept out of Pulumi's
     * logs and stored as a secret, while the progress lines on stderr are still shown live.
     * Default: `false`.
     */
    secretStdout?: boolean;
    /**
     * Values whose change must *replace* the step (delete, then create when `deleteBeforeReplace`)
     * instead of re-running it in place, e.g. the minikube profile name. Default: none.
     */
    triggers?: pulumi.Input<string>[];
    /**
     * Whether the previous run's stdout/stderr reach the next update and the delete script as
     * `PULUMI_COMMAND_STDOUT`/`PULUMI_COMMAND_STDERR`. Turn it off where stdout carries a secret the
     * delete does not need (the kubeconfig). Default: `true` (the command provider's default).
     */
    previousOutputInEnv?: boolean;
}

/**
 * A `command.local.Command` that runs one of our bash scripts. A hash of the script and of
 * `scripts/lib` is one of its inputs, so editing a script re-runs that step in place (an update),
 * never a create-new-then-delete-old replacement of host state.
 */
export function hostScript(name: string, args: HostScriptArgs, opts?: pulumi.CustomResourceOptions): command.local.Command {
    const environment: Record<string, pulumi.Input<string>> = {
        ...args.environment,
        GM_SCRIPTS_SHA256: scriptsHash([args.create, ...(args.delete ? [args.delete] : [])]),
    };
    return new command.local.Command(name, {
        create: scriptCommand(args.create),
        update: scriptCommand(args.create),
        delete: args.delete ? scriptCommand(args.delete) : undefined,
        environment,
        triggers: args.triggers,
        // Only the `[stage]` progress lines (stderr) are shown, once: stdout is the JSON summary, which
        // Pulumi would print twice (creating/created) and which is read from the outputs anyway.
        logging: "stderr",
        addPreviousOutputInEnv: args.previousOutputInEnv ?? true,
    }, args.secretStdout
        ? { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "stdout"] }
        : opts);
}

/**
 * Runs a read-only probe script on every preview and update (an invoke, not a resource) and
 * returns its stdout. Use it only for scripts that change nothing on the host. It is quiet
 * (`logging: "none"`): its output would otherwise show as Stack messages on every preview and up.
 */
export function hostProbe(script: string, environment: Record<string, pulumi.Input<string>>,
    opts?: pulumi.InvokeOutputOptions): pulumi.Output<string> {
    return command.local.runOutput({ command: scriptCommand(script), environment, logging: "none" }, opts).stdout;
}

/** The command string for a script: a fixed path, no inputs (those travel in the environment). */
export function scriptCommand(script: string): string {
    if (!/^[a-z0-9][a-z0-9-]*\.sh$/.test(script)) {
        throw new Error(`hostScript: script name ${JSON.stringify(script)} must be a plain file name in scripts/`);
    }
    return `bash ./scripts/${script}`;
}

/** sha256 over the named scripts and the shared library they source. */
export function scriptsHash(scripts: string[]): string {
    const hash = crypto.createHash("sha256");
    const libDir = path.join(SCRIPTS_DIR, "lib");
    const libFiles = fs.existsSync(libDir) ? fs.readdirSync(libDir).sort().map((f) => path.join("lib", f)) : [];
    for (const rel of [...scripts, ...libFiles]) {
        hash.update(rel);
        hash.update(fs.readFileSync(path.join(SCRIPTS_DIR, rel)));
    }
    return hash.digest("hex");
}

/**
 * The JSON summary a script prints as its last stdout line (DESIGN.md §3). Throws an error that
 * quotes the tail of stdout when there is none, since that means the script broke its contract.
 */
export function parseSummary(stdout: string, script: string): Record<string, unknown> {
    const lines = stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i];
        if (!line.startsWith("{")) continue;
        try {
            const value: unknown = JSON.parse(line);
            if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
        } catch {
            // Not the summary; keep looking further up.
        }
    }
    throw new Error(`scripts/${script} printed no JSON summary line; last output: ${JSON.stringify(lines.slice(-3).join(" | "))}`);
}
