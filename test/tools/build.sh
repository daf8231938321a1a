#!/usr/bin/env bash
# Builds the real tools the test suite runs (never shipped): the Kubernetes v1.37.2 control plane
# and kubectl, etcd 3.7.0, kwok v0.8.0, minikube v1.38.1, the Pulumi CLI v3.274.1, nvidia-ctk
# v1.20.0 and Docker v28.5.2 (dockerd + CLI, the CDI-capable engine), all from the Go module proxy. Each lands in $GM_TEST_CACHE/<tool>-<version>/ and is
# reused when present, so a warm run costs nothing. Usage: build.sh [tool...] (default: all).
# Prints one summary line: {"built":[…],"reused":[…],"seconds":N}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$PATH:/usr/local/go/bin"
cache="${GM_TEST_CACHE:-$HOME/.cache/gpu-minikube-test}"
export GOFLAGS=-mod=mod
started=$(date +%s)
built=()
reused=()

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
KWOK_VERSION=v0.8.0
MINIKUBE_VERSION=v1.38.1
PULUMI_VERSION=v3.274.1
NVIDIA_CTK_VERSION=v1.20.0
DOCKER_VERSION=v28.5.2

# done_or_build NAME DIR BINARY... -- runs the rest of the arguments only when a binary is missing.
have() { local dir=$1; shift; local b; for b in "$@"; do [ -x "$dir/$b" ] || return 1; done; }

build_k8s() {
    local dir="$cache/kubernetes-$K8S_VERSION"
    if have "$dir" kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; then reused+=(kubernetes); return; fi
    echo "build: kubernetes $K8S_VERSION + etcd $ETCD_VERSION (cold: ~13 min on 2 cores)" >&2
    mkdir -p "$dir.tmp"
    local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    local ld="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    (cd "$here/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$dir.tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
    (cd "$here/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/etcd" ./etcd)
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(kubernetes)
}

build_kwok() {
    local dir="$cache/kwok-$KWOK_VERSION"
    if have "$dir" kwok; then reused+=(kwok); return; fi
    echo "build: kwok $KWOK_VERSION" >&2
    mkdir -p "$dir.tmp"
    GOBIN="$dir.tmp" CGO_ENABLED=0 go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(kwok)
}

build_minikube() {
    local dir="$cache/minikube-$MINIKUBE_VERSION"
    if have "$dir" minikube; then reused+=(minikube); return; fi
    echo "build: minikube $MINIKUBE_VERSION (cold: ~3 min)" >&2
    mkdir -p "$dir.tmp"
    # As minikube's own Makefile: cgo on, libvirt loaded at run time (CGO_ENABLED=0 fails in the kvm driver).
    (cd "$here/minikube" && CGO_ENABLED=1 go build -trimpath -tags libvirt_dlopen \
        -ldflags "-s -w -X k8s.io/minikube/pkg/version.version=$MINIKUBE_VERSION" \
        -o "$dir.tmp/minikube" k8s.io/minikube/cmd/minikube)
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(minikube)
}

build_pulumi() {
    local dir="$cache/pulumi-$PULUMI_VERSION"
    if have "$dir" pulumi; then reused+=(pulumi); return; fi
    echo "build: pulumi $PULUMI_VERSION (cold: ~8 min)" >&2
    mkdir -p "$dir.tmp"
    (cd "$here/pulumi" && CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
        -o "$dir.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(pulumi)
}

build_nvidia_ctk() {
    local dir="$cache/nvidia-ctk-$NVIDIA_CTK_VERSION"
    if have "$dir" nvidia-ctk; then reused+=(nvidia-ctk); return; fi
    echo "build: nvidia-ctk $NVIDIA_CTK_VERSION" >&2
    mkdir -p "$dir.tmp"
    GOBIN="$dir.tmp" go install "github.com/NVIDIA/nvidia-container-toolkit/cmd/nvidia-ctk@$NVIDIA_CTK_VERSION"
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(nvidia-ctk)
}

# Docker Engine 28 for the CDI tests (Debian's docker.io is 20.10, before CDI). moby and docker/cli have
# no go.mod: test/tools/dockerd and test/tools/docker-cli require them with their vendor.mod's versions.
# It runs with the host's containerd and runc (docker.io's). Version ldflags as moby's hack/make/.binary
# and docker/cli's scripts/build/.variables set them.
build_docker() {
    local dir="$cache/docker-$DOCKER_VERSION"
    if have "$dir" dockerd docker; then reused+=(docker); return; fi
    echo "build: docker $DOCKER_VERSION (dockerd + CLI; cold: ~19 min on 2 busy cores, downloads included)" >&2
    mkdir -p "$dir.tmp"
    local v=${DOCKER_VERSION#v}
    (cd "$here/dockerd" && CGO_ENABLED=0 go build -trimpath -tags exclude_graphdriver_btrfs \
        -ldflags "-s -w -X github.com/docker/docker/dockerversion.Version=$v -X github.com/docker/docker/dockerversion.GitCommit=$DOCKER_VERSION" \
        -o "$dir.tmp/dockerd" github.com/docker/docker/cmd/dockerd)
    (cd "$here/docker-cli" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/docker/cli/cli/version.Version=$v -X github.com/docker/cli/cli/version.GitCommit=$DOCKER_VERSION" \
        -o "$dir.tmp/docker" github.com/docker/cli/cmd/docker)
    rm -rf "$dir"; mv "$dir.tmp" "$dir"; built+=(docker)
}

tools=("$@")
[ "${#tools[@]}" -gt 0 ] || tools=(nvidia-ctk kwok minikube kubernetes pulumi docker)
for t in "${tools[@]}"; do
    case "$t" in
        kubernetes) build_k8s ;;
        kwok) build_kwok ;;
        minikube) build_minikube ;;
        pulumi) build_pulumi ;;
        nvidia-ctk) build_nvidia_ctk ;;
        docker) build_docker ;;
        *) echo "build: unknown tool '$t' (known: kubernetes kwok minikube pulumi nvidia-ctk docker)" >&2; exit 2 ;;
    esac
done
list() { local IFS=,; local out="" x; for x in "$@"; do out="$out${out:+,}\"$x\""; done; printf '[%s]' "$out"; }
printf '{"built":%s,"reused":%s,"seconds":%d}\n' "$(list "${built[@]+"${built[@]}"}")" "$(list "${reused[@]+"${reused[@]}"}")" "$(( $(date +%s) - started ))"
