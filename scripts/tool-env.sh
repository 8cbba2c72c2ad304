# Sourced by make from the repository root: when promtool is not installed but a Docker engine
# is, put the image wrappers in scripts/docker/ first on PATH.
if ! command -v promtool >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
  PATH="$(pwd)/scripts/docker:$PATH"
  export PATH
fi
