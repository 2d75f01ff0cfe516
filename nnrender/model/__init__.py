"""Dump format (pure) and the Keras/TensorFlow readers (the only TensorFlow users)."""
