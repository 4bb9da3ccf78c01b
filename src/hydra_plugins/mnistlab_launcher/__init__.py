"""The project's Hydra plugins (Hydra accepts launchers only from the hydra_plugins package)."""
