//go:build tools

// Package tools pins the docker CLI command the tests build.
package tools

import _ "github.com/docker/cli/cmd/docker"
