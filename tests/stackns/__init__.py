"""The end-to-end stack harness: the generated configuration run unchanged by Debian's programs in
a private network, mount and PID namespace (see tests/stackns/README.md)."""
