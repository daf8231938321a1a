import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/**
 * What every later stage needs from a cluster, whoever made it: `MinikubeCluster` (created on
 * this machine) and `ExistingCluster` (any cluster the program only reaches through a kubeconfig)
 * both satisfy it, so the composition root picks one by `cluster.mode` and nothing after it knows which.
 */
export interface GpuCluster {
    /** Kubeconfig text for kubectl steps (secret); never the ambient ~/.kube/config. */
    readonly kubeconfig: pulumi.Output<string>;
    /** Explicit Kubernetes provider for every object in this cluster. */
    readonly provider: k8s.Provider;
    /**
     * Identifies this incarnation of the cluster: it changes when the cluster was (re)started or
     * recreated, so checks run again and per-incarnation names (the verification namespace) change.
     */
    readonly incarnation: pulumi.Output<string>;
    /** Depend on this to run once the cluster is reachable. */
    readonly ready: pulumi.Resource;
    /** Names of the nodes expected to carry GPUs, sorted. */
    readonly gpuNodes: pulumi.Output<string[]>;
}
