"""Rendering helpers shared by the synthetic source and the ``render-maps`` stage.

``camera`` holds plain-numpy pinhole camera maths; ``scene`` the pyrender offscreen helpers
(imported lazily: importing this package does not import pyrender or touch OpenGL).
"""

from __future__ import annotations

from hpt_data.render.camera import intrinsics, look_at, project, to_opengl_pose, transform_points

__all__ = ["intrinsics", "look_at", "project", "to_opengl_pose", "transform_points"]
