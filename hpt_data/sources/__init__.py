"""Video sources: plugins that list (and, for generated data, make) the videos of a dataset.

What a plugin imports, all from here (see README "Writing a video source"):

- the interface: :class:`VideoSource`, :class:`VideoRecord`, :class:`SourceScan`,
  :class:`SourceProblem`, :class:`NoOptions`, :class:`SourceError`;
- helpers: :func:`safe_id` (text to a valid video id), :func:`path_name_problem` and
  :func:`check_path_name` (the id rule itself), :func:`probe_video` (can the stages decode
  it?), :func:`atomic_output` (write a file so that a killed worker leaves nothing trusted);
- :data:`SUPPORTED_TYPES`, the field types an ``Options`` dataclass may use.

``hpt_data.testing.check_source`` runs the contract a source must keep on a plugin.
Importing this package loads no source: each is imported when a dataset names it.
"""

from hpt_data.errors import SourceError
from hpt_data.names import check_path_name, path_name_problem
from hpt_data.sources.base import (
    FramePair,
    NoOptions,
    SourceProblem,
    SourceScan,
    VideoRecord,
    VideoSource,
)
from hpt_data.sources.helpers import atomic_output, probe_video, safe_id
from hpt_data.yaml_schema import SUPPORTED_TYPES

__all__ = [
    "SUPPORTED_TYPES",
    "FramePair",
    "NoOptions",
    "SourceError",
    "SourceProblem",
    "SourceScan",
    "VideoRecord",
    "VideoSource",
    "atomic_output",
    "check_path_name",
    "path_name_problem",
    "probe_video",
    "safe_id",
]
