"""One rank of the DistributedDataParallel check (run by tests/test_training.py under
``torchrun --nproc_per_node 2``; not a test module itself).

For every stage, each rank builds the same StageTrainer (same seed), wraps its trained
networks with ``StageTrainer.distribute`` and takes two steps on pairs of its own (rank r
reads pairs r, r + 2, …): if gradients are averaged, the trained weights stay identical
on both ranks; any network whose forward escapes its DDP wrapper drifts apart. A control
run of the coarse stage without ``distribute`` must drift, or the check proves nothing.

Rank 0 writes, per stage and network, the largest difference between the ranks' weights
and how far training moved them, as JSON to the path given as the second argument.

    torchrun --nproc_per_node 2 tests/ddp_stage_worker.py SHARD_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import default_collate
from train_records import TinyFeatures, small_config

from hpt_model.data import PairDataset, fields_for_stage
from hpt_model.training import StageTrainer, TrainSettings
from hpt_model.training.distributed import dist_info_from_env, is_trained, shutdown_distributed

STAGES = ("coarse", "face", "arm", "leg", "fine", "e2e", "volume")
STEPS = 2


def flat_weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def run_stage(stage: str, shards: Path, out: Path, synchronise: bool) -> dict:
    """Two steps of ``stage`` on this rank's pairs; per trained network (name → figures)."""
    info = dist_info_from_env()
    config = small_config()
    pairs = PairDataset(shards, **fields_for_stage(stage, config))
    torch.manual_seed(0)
    settings = TrainSettings(stage=stage, out=out / stage, tensorboard=False, progress=False)
    trainer = StageTrainer(settings, config, info=info, features=TinyFeatures())
    if synchronise:
        trainer.distribute()
    trained = {name: net for name, net in trainer.nets.items() if is_trained(net)}
    start = {name: flat_weights(net) for name, net in trained.items()}
    trainer.total_steps = STEPS
    for step in range(STEPS):
        index = (info.rank + step * info.world_size) % len(pairs)
        trainer.train_step(trainer.inputs(default_collate([pairs[index]])))
    figures = {}
    for name, net in trained.items():
        mine = flat_weights(net)
        copies = [torch.empty_like(mine) for _ in range(info.world_size)]
        dist.all_gather(copies, mine)
        figures[name] = {
            "rank_difference": max(float((c - copies[0]).abs().max()) for c in copies),
            "moved": float((mine - start[name]).abs().max()),
        }
    return figures


def main(shards: Path, result: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    out = result.parent / f"rank{dist.get_rank()}"
    figures = {stage: run_stage(stage, shards, out, synchronise=True) for stage in STAGES}
    figures["control: coarse, not distributed"] = run_stage("coarse", shards, out, False)
    if dist.get_rank() == 0:
        result.write_text(json.dumps(figures, indent=1))
    shutdown_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
