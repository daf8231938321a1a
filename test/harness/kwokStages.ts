import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { KWOK_VERSION, moduleSource } from "./realTools";

/**
 * The kwok Stages our test control plane runs (issue 11). kwok has no default Stages; these come
 * from the files kwok ships in its module (`kustomize/stage/...` of sigs.k8s.io/kwok@v0.8.0), read
 * from the Go module cache at test time — never copied into the repo — with three documented
 * changes, plus Stages of our own for image-pull failures.
 *
 * - Nodes: `node/fast/node-initialize` (Ready at once, `status.allocatable/capacity` kept as given)
 *   and `node/heartbeat-with-lease` (kwok renews the node's Lease, so the node lifecycle controller
 *   never marks it NotReady).
 * - Pods: `pod/general/*` (create → ready → complete for Job pods, delete), each stage after a random
 *   1–5 s as shipped, so pods get realistic, distinct start and finish times. Per pod the shipped
 *   annotations still apply, e.g. `pod-complete.stage.kwok.x-k8s.io/delay: "30s"` keeps a Job's pod
 *   Running that long.
 *
 * Changes to the shipped files:
 * 1. `pod-complete` keeps the container's real start time: shipped, its terminated state says
 *    `startedAt: <now>` (the completion time); we take the `running.startedAt` that `pod-ready` set.
 * 2. `pod-ready` does not pick pods whose image is in {@link KwokStageOptions.unpullableImages};
 *    `pod-complete` does not pick those in {@link KwokStageOptions.failingImages}.
 * 3. {@link KwokStageOptions.podStageDelay} replaces the pod stages' delay range when given.
 */

/** Options for {@link kwokStagesConfig}. */
export interface KwokStageOptions {
    /**
     * Images that can never be pulled: a pod using one goes ContainerCreating → ErrImagePull →
     * ImagePullBackOff → ErrImagePull … with the kubelet's event and message texts, and never runs.
     * Default: none.
     */
    unpullableImages?: string[];
    /**
     * Images whose container exits with the given non-zero code: a pod using one runs (Running,
     * Ready) and then fails (`terminated.reason: Error`, phase Failed), and its Job fails. Default: none.
     */
    failingImages?: Record<string, number>;
    /**
     * Each pod stage waits a random time in [minMs, maxMs]. Default: as shipped, [1000, 5000].
     */
    podStageDelay?: { minMs: number; maxMs: number };
}

/** The node stages we use, relative to kwok's `kustomize/stage`. */
const NODE_STAGES = ["node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"];
/** The pod stages: everything `pod/general/kustomization.yaml` lists. */
const POD_STAGE_DIR = "pod/general";

/** kwok's source in the module cache, or why it is not there. */
export function kwokSource(): { dir: string; missing?: undefined } | { dir?: undefined; missing: string } {
    return moduleSource("sigs.k8s.io/kwok", KWOK_VERSION);
}

/** A kwok Stage document (only the fields we touch are typed). */
interface Stage {
    apiVersion: string;
    kind: "Stage";
    metadata: { name: string };
    spec: {
        resourceRef: { apiGroup: string; kind: string };
        selector: { matchExpressions: { key: string; operator: string; values?: string[] }[] };
        delay?: { durationMilliseconds?: number; jitterDurationMilliseconds?: number; [k: string]: unknown };
        next: { statusTemplate?: string; event?: { type: string; reason: string; message: string }; [k: string]: unknown };
        [k: string]: unknown;
    };
}

/**
 * The kwok configuration (a multi-document YAML stream of Stages) for `kwok --config`. Throws when
 * kwok's source is not in the module cache, or when a shipped file no longer looks as expected.
 */
export function kwokStagesConfig(options: KwokStageOptions = {}): string {
    const src = kwokSource();
    if (!src.dir) throw new Error(src.missing);
    const stageRoot = path.join(src.dir, "kustomize", "stage");
    const kustomization = YAML.parse(fs.readFileSync(path.join(stageRoot, POD_STAGE_DIR, "kustomization.yaml"), "utf8")) as { resources: string[] };
    const nodeStages = NODE_STAGES.map((f) => readStage(path.join(stageRoot, f)));
    const podStages = kustomization.resources.map((f) => readStage(path.join(stageRoot, POD_STAGE_DIR, f)));
    const unpullable = options.unpullableImages ?? [];
    const failing = Object.entries(options.failingImages ?? {});

    for (const stage of podStages) {
        if (stage.metadata.name === "pod-complete") {
            keepStartTime(stage);
            if (failing.length > 0) {
                stage.spec.selector.matchExpressions.push({ key: ".spec.containers.[].image", operator: "NotIn", values: failing.map(([image]) => image) });
            }
        }
        if (stage.metadata.name === "pod-ready" && unpullable.length > 0) {
            stage.spec.selector.matchExpressions.push({ key: ".spec.containers.[].image", operator: "NotIn", values: unpullable });
        }
        if (options.podStageDelay && stage.spec.delay) {
            stage.spec.delay.durationMilliseconds = options.podStageDelay.minMs;
            stage.spec.delay.jitterDurationMilliseconds = options.podStageDelay.maxMs;
        }
    }
    const ours = [
        ...unpullable.flatMap((image, i) => imagePullFailureStages(image, i)),
        ...failing.map(([image, exitCode], i) => containerFailureStage(image, exitCode, i)),
    ];
    return [...nodeStages, ...podStages, ...ours].map((s) => YAML.stringify(s, { lineWidth: 0, blockQuote: "literal" })).join("---\n");
}

function readStage(file: string): Stage {
    const stage = YAML.parse(fs.readFileSync(file, "utf8")) as Stage;
    if (stage?.kind !== "Stage" || !stage.spec?.selector?.matchExpressions) {
        throw new Error(`${file} is not a kwok Stage with matchExpressions: kwok ${KWOK_VERSION}'s stage files changed; update test/harness/kwokStages.ts`);
    }
    return stage;
}

/** Change 1: the terminated state's startedAt is the running state's, not the completion time. */
function keepStartTime(stage: Stage): void {
    const template = stage.spec.next.statusTemplate ?? "";
    const shipped = "startedAt: {{ $now | Quote }}";
    if (template.split(shipped).length !== 2 || !template.includes("$origin := index $root.status.containerStatuses $index")) {
        throw new Error(`kwok ${KWOK_VERSION}'s pod-complete stage changed (expected one '${shipped}' and $origin); update test/harness/kwokStages.ts`);
    }
    stage.spec.next.statusTemplate = template.replace(shipped, "startedAt: {{ or $origin.state.running.startedAt $now | Quote }}");
}

/**
 * Our Stages for an image the node cannot pull, after the kubelet's texts in
 * k8s.io/kubernetes v1.37.2 pkg/kubelet/images/image_manager.go (EnsureImageExists): the event
 * `Failed to pull image "<image>": <err>` and waiting message `<err>` (reason ErrImagePull); then the
 * event `Back-off pulling image "<image>"` and message `Back-off pulling image "<image>": ErrImagePull:
 * <err>` (reason ImagePullBackOff), retried every 10 s. `<err>` is what Docker (minikube's runtime)
 * answers for a tag that does not exist.
 */
function imagePullFailureStages(image: string, index: number): Stage[] {
    const err = `Error response from daemon: manifest for ${image} not found: manifest unknown: manifest unknown`;
    const q = (s: string) => JSON.stringify(s);
    const waiting = (reason: string, message: string) => [
        "{{ $root := . }}",
        "containerStatuses:",
        "{{ range .spec.containers }}",
        "- image: {{ .image | Quote }}",
        "  name: {{ .name | Quote }}",
        "  ready: false",
        "  restartCount: 0",
        "  started: false",
        "  state:",
        "    waiting:",
        `      {{ if eq .image ${q(image)} }}`,
        `      reason: ${reason}`,
        `      message: ${q(message)}`,
        "      {{ else }}",
        "      reason: ContainerCreating",
        "      {{ end }}",
        "{{ end }}",
        "",
    ].join("\n");
    const stage = (name: string, fromReasons: string[], delay: [number, number], reason: string, message: string,
        event: { type: string; reason: string; message: string }): Stage => ({
        apiVersion: "kwok.x-k8s.io/v1alpha1",
        kind: "Stage",
        metadata: { name: `gm-${name}-${index}` },
        spec: {
            resourceRef: { apiGroup: "v1", kind: "Pod" },
            selector: {
                matchExpressions: [
                    { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" },
                    { key: ".status.phase", operator: "In", values: ["Pending"] },
                    { key: ".spec.containers.[].image", operator: "In", values: [image] },
                    { key: ".status.containerStatuses.[].state.waiting.reason", operator: "In", values: fromReasons },
                ],
            },
            delay: { durationMilliseconds: delay[0], jitterDurationMilliseconds: delay[1] },
            next: { event, statusTemplate: waiting(reason, message) },
        },
    });
    return [
        stage("image-pull-failed", ["ContainerCreating"], [1000, 3000], "ErrImagePull", err,
            { type: "Warning", reason: "Failed", message: `Failed to pull image ${q(image)}: ${err}` }),
        stage("image-pull-backoff", ["ErrImagePull"], [1000, 1000], "ImagePullBackOff", `Back-off pulling image ${q(image)}: ErrImagePull: ${err}`,
            { type: "Normal", reason: "BackOff", message: `Back-off pulling image ${q(image)}` }),
        stage("image-pull-retry", ["ImagePullBackOff"], [10000, 10000], "ErrImagePull", err,
            { type: "Warning", reason: "Failed", message: `Failed to pull image ${q(image)}: ${err}` }),
    ];
}

/**
 * Our Stage for a container that exits with EXIT_CODE: after pod-ready, the pod fails as the kubelet
 * reports it (phase Failed, `terminated.reason: Error`, the running start time kept).
 */
function containerFailureStage(image: string, exitCode: number, index: number): Stage {
    if (!Number.isInteger(exitCode) || exitCode < 1 || exitCode > 255) throw new Error(`failingImages[${image}]: exit code ${exitCode} is not 1..255`);
    const q = (s: string) => JSON.stringify(s);
    return {
        apiVersion: "kwok.x-k8s.io/v1alpha1",
        kind: "Stage",
        metadata: { name: `gm-container-failed-${index}` },
        spec: {
            resourceRef: { apiGroup: "v1", kind: "Pod" },
            selector: {
                matchExpressions: [
                    { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" },
                    { key: ".status.phase", operator: "In", values: ["Running"] },
                    { key: ".spec.containers.[].image", operator: "In", values: [image] },
                    { key: ".status.containerStatuses.[].state.running.startedAt", operator: "Exists" },
                ],
            },
            delay: { durationMilliseconds: 1000, jitterDurationMilliseconds: 3000 },
            next: {
                statusTemplate: [
                    "{{ $now := Now }}",
                    "{{ $root := . }}",
                    "conditions:",
                    "- lastProbeTime: null",
                    "  lastTransitionTime: {{ $now | Quote }}",
                    "  reason: PodFailed",
                    '  status: "False"',
                    "  type: Ready",
                    "- lastProbeTime: null",
                    "  lastTransitionTime: {{ $now | Quote }}",
                    "  reason: PodFailed",
                    '  status: "False"',
                    "  type: ContainersReady",
                    "containerStatuses:",
                    "{{ range $index, $item := .spec.containers }}",
                    "{{ $origin := index $root.status.containerStatuses $index }}",
                    "- image: {{ $item.image | Quote }}",
                    "  name: {{ $item.name | Quote }}",
                    "  ready: false",
                    "  restartCount: 0",
                    "  started: false",
                    "  state:",
                    "    terminated:",
                    `      {{ if eq $item.image ${q(image)} }}`,
                    `      exitCode: ${exitCode}`,
                    "      reason: Error",
                    "      {{ else }}",
                    "      exitCode: 0",
                    "      reason: Completed",
                    "      {{ end }}",
                    "      finishedAt: {{ $now | Quote }}",
                    "      startedAt: {{ or $origin.state.running.startedAt $now | Quote }}",
                    "{{ end }}",
                    "phase: Failed",
                    "",
                ].join("\n"),
            },
        },
    };
}
