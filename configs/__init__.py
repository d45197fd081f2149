"""Task presets, installed as `ddpg_jax.presets` (see pyproject.toml); read by
`ddpg_jax.settings.load_preset`."""
