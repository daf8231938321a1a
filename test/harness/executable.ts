// Finding real binaries for the test harnesses (nvidia-ctk's Go, the private Docker daemon's
// binaries, the pinned real tools): one definition of "an executable file", so each harness's
// "is it there?" check agrees with the others.
import * as fs from "fs";
import * as path from "path";

/** Whether FILE is a regular file this process may execute (a directory with the x bit is not). */
export function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/**
 * The first executable NAME in $PATH's directories, then in EXTRA_DIRS (where a tool lives when a
 * minimal PATH, such as a CI runner's, leaves it out), or undefined.
 */
export function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
    for (const dir of [...(process.env.PATH ?? "").split(":"), ...extraDirs]) {
        if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
    }
    return undefined;
}
