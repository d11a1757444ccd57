"""Site- and tool-specific helpers kept out of the core (as in lxm3 0.4): `ucl`, `wandb`."""
