"""The `lxm3` command line: launch, version, and the lifecycle commands."""
