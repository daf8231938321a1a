import * as pulumi from "@pulumi/pulumi";

/**
 * A component's `dependsOn` option plus more resources, as one `dependsOn` for a child. Components
 * take the previous stage through their own `dependsOn` option, not through their args; Pulumi
 * does not pass it on to children, so each child that must wait for it gets it from here. Accepts
 * a resource or a list of resources (or promises/outputs of single resources); a promise or output
 * of a whole list cannot be merged and is refused.
 */
export function withDependsOn(dependsOn: pulumi.ResourceOptions["dependsOn"], ...more: pulumi.Resource[]): pulumi.Input<pulumi.Resource>[] {
    if (dependsOn === undefined) return more;
    if (Array.isArray(dependsOn)) return [...(dependsOn as pulumi.Input<pulumi.Resource>[]), ...more];
    if (pulumi.Resource.isInstance(dependsOn)) return [dependsOn, ...more];
    throw new Error("withDependsOn: pass dependsOn as a resource or a list of resources, not a promise or output of a list");
}
