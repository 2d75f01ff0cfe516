"""The dump format (``ir``, pure) and the readers that write it: framework-neutral parts
(``epochs``, ``storage``, ``inputs``, ``capture``, ``builders``) and one module family per
framework (``keras_*``; ``keras_env`` is the only importer of Keras/TensorFlow)."""
