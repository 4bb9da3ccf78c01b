"""Training a run: the optimizer, schedules, the Trainer's parts and callbacks, checkpoints, trackers, the run folder's records."""
