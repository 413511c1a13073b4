#!/usr/bin/env bash
# The everyday image commands against Docker Hub, into a store of their own.
set -euo pipefail
export IMAGECTL_STORE=${IMAGECTL_STORE:-$HOME/.local/share/imagectl-example}
imagectl pull nginx:1.25-alpine busybox:1.36 alpine:3.20
imagectl pull --platform linux/arm64 busybox:1.36     # another platform of the same tag
imagectl images
imagectl images --format '{{.Repository}}:{{.Tag}} {{.Size}}'
imagectl inspect -f '{{.Os}}/{{.Architecture}} {{json .RepoDigests}}' busybox:1.36
imagectl history alpine:3.20
imagectl tag busybox:1.36 registry.local/base/busybox:stable
imagectl rmi registry.local/base/busybox:stable
imagectl df -v
imagectl fsck
