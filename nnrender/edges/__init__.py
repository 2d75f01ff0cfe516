"""Connections between layers: which edges to draw (``select``), where they run
(``bundle``, ``route``), and the plan data the Blender side turns into curves (``groups``).
Pure numpy: no bpy, no TensorFlow."""
