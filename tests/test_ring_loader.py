"""RingLoader: batches through shared slots made once (hpt_model/data/ring.py).

Checked against the DataLoader's own collation on real shard pairs and on items with
every kind of field, the slot lifetime it promises, its one-line refusals, and that
training with workers (which uses it) steps exactly as training without.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from train_records import small_config, write_train_shards

from hpt_model.checkpoints import FINAL, load_checkpoint
from hpt_model.data import PairDataset, RingLoader
from hpt_model.training import TrainSettings, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


class Mixed(Dataset):
    """Items with a non-contiguous uint8 view, float16, int64, a 0-d float32, a Python
    int and float, and a string: each value a function of the index."""

    def __init__(self, n: int = 23) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        image = torch.randint(0, 256, (24, 20, 3), generator=g, dtype=torch.uint8)
        return {
            "image": image.permute(2, 0, 1),  # a view, as PairDataset's images are
            "depth": torch.rand(1, 6, 5, generator=g).half(),
            "joints": torch.randint(-5, 5, (4, 2), generator=g),
            "scale": torch.tensor(i / 7, dtype=torch.float32),
            "index": i,
            "weight": i / 3,
            "name": f"frame-{i:03d}",
        }


def _same_batches(expected: list[dict], got: list[dict]) -> None:
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        assert set(have) == set(want)
        for key, value in want.items():
            if isinstance(value, torch.Tensor):
                assert have[key].dtype == value.dtype, key
                assert torch.equal(have[key], value), key
            else:
                assert have[key] == value, key


def _kept(batch: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@pytest.mark.parametrize(("batch_size", "drop_last"), [(1, False), (4, False), (4, True)])
def test_yields_what_the_dataloader_yields(batch_size: int, drop_last: bool) -> None:
    data = Mixed()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(3)).tolist()
    expected = list(DataLoader(data, batch_size, sampler=order, drop_last=drop_last))
    loader = RingLoader(data, batch_size, order, num_workers=2, drop_last=drop_last)
    assert len(loader) == len(expected)
    _same_batches(expected, [_kept(b) for b in loader])


def test_real_shard_pairs_match_the_dataloader(tmp_path: Path) -> None:
    pairs = PairDataset(write_train_shards(tmp_path, persons=2, frames=3), with_volume=True)
    order = [4, 0, 5, 2, 1, 3]
    expected = list(DataLoader(pairs, 2, sampler=order))
    _same_batches(expected, [_kept(b) for b in RingLoader(pairs, 2, order, num_workers=2)])


def test_slots_are_reused_and_a_batch_lives_until_the_one_after_next() -> None:
    data = Mixed(40)
    order = list(range(len(data)))
    loader = RingLoader(data, 2, order, num_workers=2, prefetch_factor=2)
    slots = loader.ring.slots
    assert slots == 2 * 2 + 2
    expected = list(DataLoader(data, 2, sampler=order))
    previous = None
    pointers = []
    for k, batch in enumerate(loader):
        pointers.append(batch["image"].data_ptr())
        if previous is not None:  # drawn batch k; batch k - 1 must still be intact
            _same_batches([expected[k - 1]], [_kept(previous)])
        _same_batches([expected[k]], [_kept(batch)])
        previous = batch
    assert len(set(pointers)) == slots  # one buffer, reused: nothing allocated per batch
    assert pointers[slots] == pointers[0]


def test_refuses_items_of_another_shape() -> None:
    class Ragged(Mixed):
        def __getitem__(self, i: int) -> dict:
            item = super().__getitem__(i)
            if i == 5:
                item["joints"] = item["joints"][:3]
            return item

    with pytest.raises(ValueError, match=r"indices \[4, 5\].*'joints' is \(3, 2\)"):
        list(RingLoader(Ragged(), 2, list(range(8)), num_workers=1))


def test_refuses_no_workers() -> None:
    with pytest.raises(ValueError, match="num_workers >= 1"):
        RingLoader(Mixed(), 2, [0, 1], num_workers=0)


def test_training_with_workers_steps_as_without(tmp_path: Path) -> None:
    """The training loop's batches through the ring give the very weights that batches read
    in the main process give (same pairs, same order)."""
    shards = write_train_shards(tmp_path / "shards", persons=2, frames=3)
    config = small_config(allow_random_vgg=True)
    finals = []
    for workers in (0, 2):
        out = tmp_path / f"workers{workers}"
        settings = TrainSettings(
            stage="coarse",
            data=shards,
            out=out,
            epochs=1,
            batch_size=2,
            num_workers=workers,
            device="cpu",
            tensorboard=False,
            progress=False,
        )
        train(settings, config)
        finals.append(load_checkpoint(out / FINAL))
    assert finals[0]["step"] == finals[1]["step"] == 3
    for name, state in finals[0]["models"].items():
        for key, value in state.items():
            assert torch.equal(finals[1]["models"][name][key], value), (name, key)
