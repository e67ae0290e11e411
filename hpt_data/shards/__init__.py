"""HDF5 shards: the schema (numpy only; hpt_model imports it), the writer, verify, stats,
and the pair lists stored per split (``pairs``).

``open_shard(path)`` opens one shard file for reading with its compression filter
registered (plain ``h5py`` cannot read the arrays without it: docs/shards.md). It is loaded
on first use, so that importing the schema alone stays numpy-only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShardError", "open_shard"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hpt_data.shards import reading

        return getattr(reading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
