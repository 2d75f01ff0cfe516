"""Quality presets (quality/) and styles (style/), installed as ``nnrender.presets``: see
``nnrender.config.bundled``."""
