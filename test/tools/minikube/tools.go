//go:build tools

// Package tools pins the minikube command the tests build.
package tools

import _ "k8s.io/minikube/cmd/minikube"
