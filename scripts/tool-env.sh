# Sourced by make: point the tests at promtool/amtool, falling back to Docker image wrappers.
here="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
if ! command -v promtool >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
  export PATH="$here/docker:$PATH"
fi
