"""Render farms: a render split into frame chunks, each a `nnrender render --frames A-B`
command, run as Dask tasks (``dask_runner``) with a job manifest that makes it resumable
(``job``). Pure Python apart from Dask: no bpy in the farm's own process."""
