"""Training data: frames from hpt_data's HDF5 shards, paired by person."""

from hpt_model.data.pairs import (
    PairDataset,
    decode_pair_batch,
    field_to_tensor,
    fields_for_stage,
    pair_indices,
)
from hpt_model.data.ring import RingLoader
from hpt_model.data.shards import ShardFrames

__all__ = [
    "PairDataset",
    "RingLoader",
    "ShardFrames",
    "decode_pair_batch",
    "field_to_tensor",
    "fields_for_stage",
    "pair_indices",
]
