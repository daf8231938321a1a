import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ComputeWorkload } from "./workloads";

/** Arguments of {@link WorkloadImages}. */
export interface WorkloadImagesArgs {
    /** Image per compute workload that will run (the nvidia-smi image is HostPrep's) (`verification.images.<workload>`); absent ones are not pulled. */
    images: Partial<Record<ComputeWorkload, string>>;
}

/**
 * Pulls the vectorAdd/nbody images on the host, like HostPrep pulls the nvidia-smi image, so each can be loaded
 * into minikube before its Job. Give it the host's ready step as `dependsOn` (Docker must be back from any
 * runtime restart; the pulls get it as their own dependency); it then pulls while the cluster starts, off the
 * verification's critical path.
 */
export class WorkloadImages extends pulumi.ComponentResource {
    /** The pulled image per workload (its `imageId` is the image's id on the host, once pulled). */
    readonly images: Partial<Record<ComputeWorkload, docker.RemoteImage>>;

    constructor(name: string, args: WorkloadImagesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gpu-minikube:gpu:WorkloadImages", name, {}, opts);
        this.images = {};
        for (const [workload, image] of Object.entries(args.images) as Array<[ComputeWorkload, string | undefined]>) {
            if (image === undefined) continue;
            // keepLocally: the image may have been on the host before us, so destroy must not remove it.
            this.images[workload] = new docker.RemoteImage(`${name}-${workload.toLowerCase()}`, {
                name: image,
                keepLocally: true,
            }, { parent: this, dependsOn: opts?.dependsOn });
        }
        this.registerOutputs({});
    }
}
