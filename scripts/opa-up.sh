#!/usr/bin/env bash
# Installs the pinned opa CLI into GOPATH/bin when missing (a Go build: minutes the first time,
# then reused). Built with the opa_wasm tag (wasmtime, cgo) so `opa test -t wasm` runs the tests on
# the target that ships. Prints the path of the binary on stdout.
set -euo pipefail
OPA_VERSION=v1.22.2
gobin="$(go env GOPATH)/bin"
version="$("$gobin/opa" version 2>/dev/null || true)"
if ! grep -q "^Version: ${OPA_VERSION#v}$" <<<"$version" || ! grep -q "^WebAssembly: available$" <<<"$version"; then
  echo "installing opa ${OPA_VERSION} with go install -tags opa_wasm (first time takes minutes)" >&2
  CGO_ENABLED=1 GOFLAGS=-mod=mod go install -tags opa_wasm "github.com/open-policy-agent/opa@${OPA_VERSION}" >&2
fi
echo "$gobin/opa"
