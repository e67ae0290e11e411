"""zlib's inflate and CRC-32 from ISA-L where it is installed (``isal``, the data extra),
else from zlib: the same bytes and the same CRC values, ISA-L's inflate ~1.6x and its
CRC-32 ~5x faster on a frame's arrays (docs/throughput.md). One place for the fallback,
imported once: the per-frame ``.npz`` reader and the frames' pixel CRC use it."""

from __future__ import annotations

try:
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - a node without the data extra
    import zlib as fast_zlib  # type: ignore[no-redef]

__all__ = ["fast_zlib"]
