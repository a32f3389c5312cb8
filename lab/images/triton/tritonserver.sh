#!/bin/sh
# NGC's tritonserver has /opt/tritonserver/backends and /opt/tritonserver/caches built in; this build
# does not, so they are added unless the caller names its own.
backend=--backend-directory=/opt/tritonserver/backends
cache=--cache-directory=/opt/tritonserver/caches
for arg in "$@"; do
    case "$arg" in
        --backend-directory|--backend-directory=*) backend= ;;
        --cache-directory|--cache-directory=*) cache= ;;
    esac
done
exec /opt/tritonserver/bin/tritonserver $backend $cache "$@"
