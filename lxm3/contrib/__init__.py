"""Helpers kept out of the core (as in lxm3 0.4): `ucl`, `wandb`; and XManager's `parameter_controller`."""
