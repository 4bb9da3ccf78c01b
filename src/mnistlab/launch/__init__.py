"""Starting jobs: each job's status and errors, SLURM, Optuna searches."""
