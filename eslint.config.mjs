// Lint for the Pulumi program and its tests; shell scripts are linted by shellcheck (scripts/lint-shell.sh).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "bin/", "state/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            "eqeqeq": ["error", "always"],
            "no-console": "off",
        },
    },
);
