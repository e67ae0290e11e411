"""Safe loading of user files: SMPL pickles, .npz members, dataset names and video ids.

The SMPL files here are a small random model in SMPL's layout (40 vertices), so these
tests need neither the official files nor the built-in model's derivation; the round trip
of the built-in model is tests/test_body_model.py's.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import sys
import textwrap
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from hpt_data.body.joints import SMPL_PARENTS
from hpt_data.body.smpl_files import read_smpl_npz, read_smpl_pkl
from hpt_data.cli import app
from hpt_data.config import DatasetConfig, load_datasets
from hpt_data.errors import ConfigError, HptError
from hpt_data.orchestrator import Dataset, scan_videos
from hpt_data.sources.base import SourceScan, VideoRecord, VideoSource
from hpt_data.sources.split import SplitRule
from hpt_data.workdir import DatasetDir, read_json

torch = pytest.importorskip("torch")
pytest.importorskip("smplx")

from hpt_data.body.smpl_layer import load_body_model, save_smpl_pkl  # noqa: E402

V = 40
_TIPS = [s + t for s in "lr" for t in ("thumb", "index", "middle", "ring", "pinky")]
_VERTEX_ID_KEYS = [
    "nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
    "RSmallToe", "RHeel", *_TIPS,
]  # fmt: skip


def small_model() -> dict[str, Any]:
    """A random model in SMPL's layout: what smplx and our checks need, nothing more."""
    rng = np.random.default_rng(0)
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    weights = rng.random((V, 24))
    regressor = rng.random((24, V))
    return {
        "v_template": rng.normal(size=(V, 3)),
        "shapedirs": 0.01 * rng.normal(size=(V, 3, 10)),
        "posedirs": 0.01 * rng.normal(size=(V, 3, 207)),
        "J_regressor": sp.csc_matrix(regressor / regressor.sum(1, keepdims=True)),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.stack([parents, np.arange(24)]),
        "f": rng.integers(0, V, (30, 3)).astype(np.uint32),
        "bs_type": "lrotmin",
        "hpt_vertex_ids": {k: i for i, k in enumerate(_VERTEX_ID_KEYS)},
    }


def posed(model: Any) -> Any:
    pose = 0.3 * torch.randn(3, 69, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(betas=torch.ones(3, 10), body_pose=pose).vertices


def one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for word in words:
        assert word in msg, msg
    return msg


# ------------------------------------------------------------------- hostile pickles


class _Evil:
    """Unpickling this calls ``func(arg)``: what a crafted .pkl does."""

    def __init__(self, func: Any, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return self.func, (self.arg,)


def _attacks(marker: Path) -> list[tuple[Any, str]]:
    return [
        (os.system, f"touch {marker}"),
        (builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        (builtins.eval, f"open({str(marker)!r}, 'w')"),
    ]


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("attack", range(3))
def test_a_crafted_pkl_is_refused_and_runs_nothing(
    tmp_path: Path, protocol: int, attack: int
) -> None:
    marker = tmp_path / "pwned"
    func, arg = _attacks(marker)[attack]
    data = small_model()
    data["v_template"] = _Evil(func, arg)  # among real arrays, as a tampered file would be
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    # the module as the file names it: posix, builtins or (protocol < 3) __builtin__
    one_line(exc, str(path), "refuses to unpickle", f".{func.__name__} (not a class SMPL")
    with pytest.raises(HptError):
        load_body_model(tmp_path)  # found in a folder: the same refusal
    assert not marker.exists()


def test_a_crafted_npz_object_member_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = small_model()
    data.pop("hpt_vertex_ids")
    data["J_regressor"] = data["J_regressor"].toarray()
    evil = np.empty((), dtype=object)
    evil[()] = _Evil(os.system, f"touch {marker}")
    path = tmp_path / "m.npz"
    np.savez(path, **data, hpt_vertex_ids=evil)
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    one_line(exc, str(path), "refuses to unpickle posix.system")
    assert not marker.exists()


def test_a_pickle_or_a_single_array_named_npz_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "SMPL_NEUTRAL.npz"
    path.write_bytes(pickle.dumps(_Evil(os.system, f"touch {marker}")))
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    one_line(exc, str(path), "not a readable SMPL .npz")
    assert not marker.exists()
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").rename(path)
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    one_line(exc, str(path), "not an .npz archive")


def test_an_old_npz_with_an_object_member_still_loads(tmp_path: Path) -> None:
    """hpt_vertex_ids as an object array (how this project wrote .npz before): read
    through the restricted unpickler, no conversion needed."""
    data = small_model()
    ids = data.pop("hpt_vertex_ids")
    data["J_regressor"] = data["J_regressor"].toarray()
    path = tmp_path / "old.npz"
    np.savez(path, **data, hpt_vertex_ids=np.array(ids, dtype=object))
    with zipfile.ZipFile(path) as zf, zf.open("hpt_vertex_ids.npy") as fh:
        assert b"numpy" in fh.read()  # it really is a pickle
    assert read_smpl_npz(path)["hpt_vertex_ids"] == ids
    reference = load_body_model(save_smpl_pkl(small_model(), tmp_path / "ref.pkl"))
    assert torch.equal(posed(load_body_model(path)), posed(reference))


def test_a_pickle_cannot_patch_the_classes_it_may_use(tmp_path: Path) -> None:
    """BUILD with slot state sets attributes on whatever is on the stack, a class too:
    ``csc_matrix.toarray = set`` for the rest of the process under plain pickle."""
    original = sp.csc_matrix.toarray
    raw = (  # (csc_matrix, then BUILD (None, {"toarray": set})), then an empty dict
        b"\x80\x02cscipy.sparse._csc\ncsc_matrix\nN}X\x07\x00\x00\x00toarray"
        b"cbuiltins\nset\ns\x86b0}."
    )
    path = tmp_path / "patch.pkl"
    path.write_bytes(raw)
    assert read_smpl_pkl(path) == {}
    assert sp.csc_matrix.toarray is original
    data = read_smpl_pkl(save_smpl_pkl(small_model(), tmp_path / "m.pkl"))
    assert type(data["J_regressor"]) is sp.csc_matrix  # scipy's own class after loading


def test_a_sparse_matrix_with_indices_out_of_range_is_refused(tmp_path: Path) -> None:
    """scipy's C++ routines trust the index arrays; a file's are checked before use."""
    data = small_model()
    data["J_regressor"].indices += 1000
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    one_line(exc, str(path), "J_regressor is malformed")


def test_unknown_codec_in_a_pickle_is_refused(tmp_path: Path) -> None:
    # what protocol 2 writes for bytes is _codecs.encode(text, 'latin1'); nothing else
    path = tmp_path / "codec.pkl"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(HptError) as exc:
        read_smpl_pkl(path)
    one_line(exc, str(path), "refuses to unpickle _codecs.encode('rot13')")


# ------------------------------------------------------------- chumpy (SMPL v1.0)


def _fake_chumpy() -> dict[str, types.ModuleType]:
    """Modules named like chumpy's, with classes pickling their state as chumpy does."""

    class Ch:
        def __init__(self, x: Any) -> None:
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps: dict[str, Any] = {}
            self._make_dense = self._make_sparse = False

    class Select(Ch):
        def __init__(self, a: Any, idxs: Any, preferred_shape: Any) -> None:
            self.a, self.idxs, self.preferred_shape = a, np.asarray(idxs), preferred_shape
            self._dirty_vars = {"a"}

    class add(Ch):  # chumpy's own name
        def __init__(self, a: Any, b: Any) -> None:
            self.a, self.b = a, b

    ch, reordering, ch_ops = (types.ModuleType(n) for n in ("ch", "reordering", "ch_ops"))
    for module, cls in ((ch, Ch), (reordering, Select), (ch_ops, add)):
        module.__name__ = f"chumpy.{module.__name__}"
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    return {
        "chumpy": types.ModuleType("chumpy"),
        **{m.__name__: m for m in (ch, reordering, ch_ops)},
    }


def _pickle_with_fake_chumpy(make: Any, protocol: int) -> bytes:
    modules = _fake_chumpy()
    assert "chumpy" not in sys.modules
    sys.modules.update(modules)
    try:
        return pickle.dumps(make(modules), protocol=protocol)
    finally:
        for name in modules:
            del sys.modules[name]


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_objects_load_as_arrays(tmp_path: Path, protocol: int) -> None:
    plain = small_model()
    big = np.random.default_rng(1).normal(size=(V, 3, 20))

    def make(m: dict[str, types.ModuleType]) -> dict[str, Any]:
        Ch, Select = m["chumpy.ch"].Ch, m["chumpy.reordering"].Select
        idxs = np.arange(big.size).reshape(big.shape)[:, :, :10].ravel()
        return {
            **plain,
            "v_template": Ch(plain["v_template"]),
            "weights": Ch(plain["weights"]),
            # as the MANO files slice shapedirs: a Select over a larger Ch
            "shapedirs": Select(Ch(big), idxs, (V, 3, 10)),
            "extra": m["chumpy.ch_ops"].add(Ch([1.0]), Ch([2.0])),  # not evaluable: left out
        }

    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    path.write_bytes(_pickle_with_fake_chumpy(make, protocol))
    assert "chumpy" not in sys.modules
    data = read_smpl_pkl(path)
    assert type(data["v_template"]) is np.ndarray
    np.testing.assert_array_equal(data["v_template"], plain["v_template"])
    np.testing.assert_array_equal(data["shapedirs"], big[:, :, :10])
    assert "extra" not in data
    plain["shapedirs"] = big[:, :, :10]
    expected = load_body_model(save_smpl_pkl(plain, tmp_path / "plain.pkl"))
    assert torch.equal(posed(load_body_model(path)), posed(expected))
    assert "chumpy" not in sys.modules


def test_a_chumpy_expression_in_a_needed_key_is_one_line(tmp_path: Path) -> None:
    def make(m: dict[str, types.ModuleType]) -> dict[str, Any]:
        Ch = m["chumpy.ch"].Ch
        base = small_model()
        return {**base, "v_template": m["chumpy.ch_ops"].add(Ch(base["v_template"]), Ch(0.0))}

    path = tmp_path / "m.pkl"
    path.write_bytes(_pickle_with_fake_chumpy(make, 2))
    with pytest.raises(HptError) as exc:
        load_body_model(path)
    one_line(exc, str(path), "v_template", "chumpy.ch_ops.add")


# ------------------------------------------------------------- convert-smpl, round trip


def test_convert_smpl_writes_a_plain_npz_that_loads_identically(tmp_path: Path) -> None:
    pkl = save_smpl_pkl(small_model(), tmp_path / "SMPL_NEUTRAL.pkl")
    out = tmp_path / "conv" / "SMPL_NEUTRAL.npz"
    result = CliRunner().invoke(app, ["convert-smpl", str(pkl), str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out}: {V} vertices, 10 shape directions"
    with np.load(out, allow_pickle=False) as npz:  # no member needs pickle
        members = {k: npz[k] for k in npz.files}
    assert not any(v.dtype.hasobject for v in members.values())
    assert members["J_regressor"].dtype == np.float64  # dense
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left
    from_pkl, from_npz = load_body_model(pkl), load_body_model(out)
    assert torch.equal(posed(from_pkl), posed(from_npz))
    assert from_pkl.landmark_vertex_ids == from_npz.landmark_vertex_ids
    np.testing.assert_array_equal(from_pkl.faces, from_npz.faces)
    assert read_smpl_npz(out)["bs_type"] == "lrotmin"


def test_convert_smpl_refuses_a_crafted_file_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = small_model()
    data["f"] = _Evil(os.system, f"touch {marker}")
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    out = tmp_path / "m.npz"
    result = CliRunner().invoke(app, ["convert-smpl", str(pkl), str(out)])
    assert result.exit_code == 2
    assert "refuses to unpickle posix.system" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists() and not out.exists()


def test_a_pkl_is_never_unpickled_by_smplx(tmp_path: Path) -> None:
    """smplx.SMPL(model_path=...) would re-read the file with plain pickle.load: loading
    must hand it the arrays instead. A pickle that only the restricted unpickler reads as
    a model (a chumpy stand-in) proves it: plain pickle cannot import chumpy."""

    def make(m: dict[str, types.ModuleType]) -> dict[str, Any]:
        base = small_model()
        return {**base, "v_template": m["chumpy.ch"].Ch(base["v_template"])}

    path = tmp_path / "m.pkl"
    path.write_bytes(_pickle_with_fake_chumpy(make, 2))
    with pytest.raises(ModuleNotFoundError):
        pickle.load(io.BytesIO(path.read_bytes()), encoding="latin1")
    assert load_body_model(path).num_vertices == V


# ------------------------------------------------------------------------- names


def test_dataset_names_that_are_not_one_folder_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    for name, words in (
        ("a/b", ["'/' (a path separator)"]),
        ("'..'", ["'..' (the parent folder)"]),
        ("'x\\y'", ["'\\\\'"]),
        ("'a b'", ["' ' (a space)"]),
    ):
        path = tmp_path / "datasets.yaml"
        path.write_text(
            textwrap.dedent(f"""\
            version: 1
            datasets:
              ok: {{source: video_folder, root: videos}}
              {name}:
                source: video_folder
                root: videos
            """)
        )
        with pytest.raises(ConfigError) as exc:
            load_datasets(path)
        msg = one_line(exc, *words, "dataset name", "use letters, digits")
        assert msg.startswith(f"{path}:4: datasets."), msg
    path.write_text("version: 1\ndatasets:\n  my-set_2.v1: {source: video_folder, root: videos}\n")
    assert load_datasets(path).dataset("my-set_2.v1").name == "my-set_2.v1"


class _ListSource(VideoSource):
    """A plugin whose ids come from somewhere else (a manifest, an API)."""

    name = "listed"
    root_must_exist = False

    def scan(self) -> SourceScan:
        ids = ["anna_walk", "../escape", "a/b", "p000-walk-0", "..", "ok+1@x=2"]
        return SourceScan(
            [VideoRecord(i, "p", self.name, str(self.root / f"{k}.mp4")) for k, i in enumerate(ids)]
        )


def test_a_source_video_id_that_would_escape_is_a_skipped_video(tmp_path: Path) -> None:
    config = DatasetConfig("d", "listed", tmp_path / "src", None, SplitRule(), {})
    work = tmp_path / "work" / "d"
    ds = Dataset(config, DatasetDir(work), _ListSource(tmp_path / "src"), {})
    scan = scan_videos(ds)
    assert [v.video_id for v in scan.videos] == ["anna_walk", "ok+1@x=2", "p000-walk-0"]
    reasons = {Path(p.path).name: p.reason for p in scan.problems}
    assert set(reasons) == {"1.mp4", "2.mp4", "4.mp4"}
    assert reasons["1.mp4"].startswith("listed source: video id '../escape' has '..'")
    assert "has '/' (a path separator)" in reasons["2.mp4"]
    assert "is '..'" in reasons["4.mp4"]
    assert all("\n" not in r for r in reasons.values())
    assert sorted(p.name for p in (work / "videos").iterdir()) == sorted(
        v.video_id for v in scan.videos
    )
    assert not (tmp_path / "work" / "escape").exists() and not (work / "escape").exists()
    assert len(read_json(work / "videos.json")["problems"]) == 3
    with pytest.raises(HptError) as exc:
        ds.dirs.video("../escape")
    one_line(exc, "video id '../escape' has '..'")
