//go:build tools

// Package tools pins the dockerd command the tests build.
package tools

import _ "github.com/docker/docker/cmd/dockerd"
