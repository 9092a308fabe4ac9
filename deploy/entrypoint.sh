#!/bin/sh
# The image's entrypoint: a model baked in at /model.safetensors is the default model unless
# SDWORKER_MODEL names another (e.g. on a network volume); then sdworker runs with the arguments.
if [ -z "${SDWORKER_MODEL:-}" ] && [ -f /model.safetensors ]; then
  SDWORKER_MODEL=/model.safetensors
  export SDWORKER_MODEL
fi
exec /usr/local/bin/sdworker "$@"
