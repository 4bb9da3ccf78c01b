"""The project's Optuna sweeper (Hydra accepts sweepers only from the hydra_plugins package)."""
