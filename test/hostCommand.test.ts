import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSummary, scriptCommand, scriptsHash } from "../components/hostCommand";

describe("scriptCommand", () => {
    it("is a fixed `bash ./scripts/<name>` call", () => {
        assert.equal(scriptCommand("preflight.sh"), "bash ./scripts/preflight.sh");
    });
    it("refuses anything but a plain script file name", () => {
        for (const bad of ["../x.sh", "a b.sh", "x.sh; reboot", "lib/common.sh", "X.sh", "x"]) {
            assert.throws(() => scriptCommand(bad), /must be a plain file name/, bad);
        }
    });
});

describe("scriptsHash", () => {
    it("covers the named scripts and scripts/lib, and differs per script set", () => {
        const one = scriptsHash(["lint-shell.sh"]);
        assert.match(one, /^[0-9a-f]{64}$/);
        assert.equal(scriptsHash(["lint-shell.sh"]), one);
        assert.notEqual(scriptsHash([]), one);
    });
});

describe("parseSummary", () => {
    it("takes the last JSON object line, ignoring progress lines", () => {
        assert.deepEqual(parseSummary('progress\n{"a":1}\nnoise\n{"b":2}\n\n', "x.sh"), { b: 2 });
    });
    it("skips lines that only look like JSON", () => {
        assert.deepEqual(parseSummary('{"ok":true}\n{not json\n[1,2]\n', "x.sh"), { ok: true });
    });
    it("fails naming the script and quoting the output when there is no summary", () => {
        assert.throws(() => parseSummary("line one\nline two\n", "preflight.sh"),
            /scripts\/preflight\.sh printed no JSON summary line; last output: "line one \| line two"/);
    });
});
