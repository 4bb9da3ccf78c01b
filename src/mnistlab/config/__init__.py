"""Hydra's side of a job: what it knows of the running job, and instantiating a component."""
