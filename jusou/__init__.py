"""The operator tooling: the `jusou` command, the process runner, the NATS cluster, verify, status, config docs.
Never imported by shared/ or services/ (pyproject [tool.importlinter]); the runner starts services by module name."""
