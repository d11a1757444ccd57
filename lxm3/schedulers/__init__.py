"""One module per scheduler (slurm, sge, local): render, submit, query, cancel."""
