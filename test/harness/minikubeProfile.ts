/**
 * A minikube profile's `config.json` as minikube v1.38.1 writes it (pkg/minikube/config/profile.go
 * SaveProfile: `json.MarshalIndent(cfg, "", "    ")` of `ClusterConfig`, pkg/minikube/config/types.go):
 * every exported field, in declaration order, Go field names, durations in nanoseconds. One source
 * for both writers of the simulated host — `writeMinikubeProfile` (a profile that exists before a
 * script runs) and the minikube stand-in's `start` (through {@link minikubeConfigTemplate}).
 * test/minikubeReal.test.ts holds the field list against types.go in minikube's module source.
 * Values of fields our scripts never read are the `minikube start` flag defaults (start_flags.go).
 */

/** What differs between our profiles. */
export interface ProfileConfigValues {
    name: string;
    cpus: number;
    memoryMb: number;
    driver: string;
    /** `null`: written without the GPUs field (minikube < v1.32). */
    gpus: string | null;
    kubernetesVersion: string;
    containerRuntime: string;
    /** Enabled addons (the `Addons` map). */
    addons: string[];
}

/** The profile config object (insertion order = minikube's field order). */
export function minikubeProfileConfig(v: ProfileConfigValues): Record<string, unknown> {
    const config: Record<string, unknown> = {
        Name: v.name,
        KeepContext: false,
        EmbedCerts: false,
        MinikubeISO: "",
        KicBaseImage: "gcr.io/k8s-minikube/kicbase:v0.0.50@sha256:eb4fec00e8ad70adf8e6436f195cc429825ffb85f95afcdb5d8d9deb576f3e93",
        Memory: v.memoryMb,
        CPUs: v.cpus,
        DiskSize: 20000,
        Driver: v.driver,
        HyperkitVpnKitSock: "",
        HyperkitVSockPorts: [],
        DockerEnv: null,
        ContainerVolumeMounts: null,
        InsecureRegistry: null,
        RegistryMirror: [],
        HostOnlyCIDR: "192.168.59.1/24",
        HypervVirtualSwitch: "",
        HypervUseExternalSwitch: false,
        HypervExternalAdapter: "",
        KVMNetwork: "default",
        KVMQemuURI: "qemu:///system",
        KVMGPU: false,
        KVMHidden: false,
        KVMNUMACount: 1,
        APIServerPort: 8443,
        DockerOpt: null,
        DisableDriverMounts: false,
        NFSShare: [],
        NFSSharesRoot: "/nfsshares",
        UUID: "",
        NoVTXCheck: false,
        DNSProxy: false,
        HostDNSResolver: true,
        HostOnlyNicType: "virtio",
        NatNicType: "virtio",
        SSHIPAddress: "",
        SSHUser: "root",
        SSHKey: "",
        SSHPort: 22,
        KubernetesConfig: {
            KubernetesVersion: v.kubernetesVersion,
            ClusterName: v.name,
            Namespace: "default",
            APIServerHAVIP: "",
            APIServerName: "minikubeCA",
            APIServerNames: null,
            APIServerIPs: null,
            DNSDomain: "cluster.local",
            ContainerRuntime: v.containerRuntime,
            CRISocket: "",
            NetworkPlugin: "cni",
            FeatureGates: "",
            ServiceCIDR: "10.96.0.0/12",
            ImageRepository: "",
            LoadBalancerStartIP: "",
            LoadBalancerEndIP: "",
            CustomIngressCert: "",
            RegistryAliases: "",
            ExtraOptions: null,
            ShouldLoadCachedImages: true,
            EnableDefaultCNI: false,
            CNI: "",
        },
        Nodes: [{
            Name: "", IP: "192.168.49.2", Port: 8443, KubernetesVersion: v.kubernetesVersion,
            ContainerRuntime: v.containerRuntime, ControlPlane: true, Worker: true,
        }],
        Addons: Object.fromEntries(v.addons.map((a) => [a, true])),
        CustomAddonImages: null,
        CustomAddonRegistries: null,
        VerifyComponents: { apiserver: true, system_pods: true },
        StartHostTimeout: 360000000000,
        ScheduledStop: null,
        ExposedPorts: [],
        ListenAddress: "",
        Network: "",
        Subnet: "",
        MultiNodeRequested: false,
        ExtraDisks: 0,
        CertExpiration: 94608000000000000,
        MountString: "",
        Mount9PVersion: "9p2000.L",
        MountGID: "docker",
        MountIP: "",
        MountMSize: 262144,
        MountOptions: [],
        MountPort: 0,
        MountType: "9p",
        MountUID: "docker",
        BinaryMirror: "",
        DisableOptimizations: false,
        DisableMetrics: false,
        DisableCoreDNSLog: false,
        CustomQemuFirmwarePath: "",
        SocketVMnetClientPath: "",
        SocketVMnetPath: "",
        StaticIP: "",
        SSHAuthSock: "",
        SSHAgentPID: 0,
        GPUs: v.gpus ?? "",
        AutoPauseInterval: 60000000000,
        Rosetta: false,
    };
    if (v.gpus === null) delete config.GPUs;
    return config;
}

/** `config.json` text for V (Go's MarshalIndent with four spaces; same layout as JSON.stringify). */
export function minikubeProfileJson(v: ProfileConfigValues): string {
    return JSON.stringify(minikubeProfileConfig(v), null, 4);
}

/**
 * The template the minikube stand-in fills on `start`: {@link minikubeProfileJson} with markers
 * `@@NAME@@`, `@@DRIVER@@`, `@@GPUS@@`, `@@K8S@@`, `@@RUNTIME@@` inside strings and `"@@CPUS@@"`,
 * `"@@MEMORY@@"` for numbers (the stand-in replaces the quoted marker with the bare number).
 */
export function minikubeConfigTemplate(): string {
    return minikubeProfileJson({
        name: "@@NAME@@", cpus: "@@CPUS@@" as unknown as number, memoryMb: "@@MEMORY@@" as unknown as number, driver: "@@DRIVER@@",
        gpus: "@@GPUS@@", kubernetesVersion: "@@K8S@@", containerRuntime: "@@RUNTIME@@", addons: [],
    });
}
