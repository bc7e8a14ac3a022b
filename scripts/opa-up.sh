#!/usr/bin/env bash
# Installs the pinned opa CLI into GOPATH/bin when missing (a Go build: minutes the first time,
# then reused). Prints the path of the binary on stdout.
set -euo pipefail
OPA_VERSION=v1.22.2
gobin="$(go env GOPATH)/bin"
if ! "$gobin/opa" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  echo "installing opa ${OPA_VERSION} with go install (first time takes minutes)" >&2
  GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@${OPA_VERSION}" >&2
fi
echo "$gobin/opa"
