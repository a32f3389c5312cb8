#!/bin/sh
# As in envoyproxy/envoy: arguments that start with '-' are options for envoy; anything else is a command.
set -e
if [ "${1#-}" != "$1" ]; then
    if [ -n "${loglevel:-}" ]; then
        set -- envoy --log-level "$loglevel" "$@"
    else
        set -- envoy "$@"
    fi
fi
exec "$@"
