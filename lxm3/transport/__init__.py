"""How commands and files reach the cluster: one SSH connection, or this machine."""
