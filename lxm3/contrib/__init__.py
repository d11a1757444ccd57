"""Optional helpers with XManager/lxm3 names, kept out of the core.

`parameter_controller` (XManager's), `search` (hyperparameter studies), `ucl` and
`wandb` (as in lxm3 0.4). Nothing here is imported by the core: a launch script
opts in with `from lxm3.contrib import search` (or another helper).
"""
