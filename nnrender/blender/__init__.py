"""The only package that imports bpy: scene building and rendering."""
