"""Example scenes, installed as ``nnrender.scenes``: ``nnrender render NAME --set dump=DUMP``
renders one by its name (see ``nnrender.config.bundled``)."""
