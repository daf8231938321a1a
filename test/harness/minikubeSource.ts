import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { MINIKUBE_VERSION, moduleSource } from "./realTools";

/**
 * Files minikube ships, read from its module source (k8s.io/minikube@v1.38.1 in the Go module
 * cache, downloaded by `test/tools/build.sh`) instead of being retyped into our tests.
 */

/** minikube's source dir, or why it is not there. */
export function minikubeSource(): { dir: string; missing?: undefined } | { dir?: undefined; missing: string } {
    return moduleSource("k8s.io/minikube", MINIKUBE_VERSION);
}

/**
 * The `nvidia-device-plugin` addon's DaemonSet as minikube applies it: its template
 * (deploy/addons/nvidia-device-plugin/nvidia-device-plugin.yaml.tmpl) with the image minikube's
 * addon table (pkg/minikube/assets/addons.go) gives it.
 */
export function minikubeDevicePluginDaemonSet(): Record<string, unknown> {
    const src = minikubeSource();
    if (!src.dir) throw new Error(src.missing);
    const tmpl = fs.readFileSync(path.join(src.dir, "deploy", "addons", "nvidia-device-plugin", "nvidia-device-plugin.yaml.tmpl"), "utf8");
    const addons = fs.readFileSync(path.join(src.dir, "pkg", "minikube", "assets", "addons.go"), "utf8");
    const entry = /MustBinAsset\(addons\.NvidiaDevicePlugin,[\s\S]*?"NvidiaDevicePlugin": "([^"]+)",[\s\S]*?"NvidiaDevicePlugin": "([^"]+)"/.exec(addons);
    if (!entry) throw new Error(`minikube ${MINIKUBE_VERSION}'s addons.go has no nvidia-device-plugin image entry; update test/harness/minikubeSource.ts`);
    const [, image, registry] = entry;
    const rendered = tmpl.replace(/image: \{\{[^\n]*\}\}\{\{\.Images\.NvidiaDevicePlugin\}\}/, `image: ${registry}/${image}`);
    if (rendered.includes("{{")) throw new Error(`minikube ${MINIKUBE_VERSION}'s nvidia-device-plugin template has template fields we do not fill; update test/harness/minikubeSource.ts`);
    return YAML.parse(rendered) as Record<string, unknown>;
}
