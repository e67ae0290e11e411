"""Reading SMPL model files safely, and converting them to plain ``.npz``.

A ``.pkl`` is a program for Python's unpickler: a crafted file runs any code it likes the
moment ``pickle.load`` reads it. SMPL files come from a licence-gated download and then get
passed around, so a file in a user's folder is not necessarily the official one. Here a
``.pkl`` is read by :class:`SmplUnpickler`, which resolves only the globals the official
files need (numpy arrays, dtypes and scalars; scipy CSC/CSR matrices; ``set``; the old
chumpy objects, read as inert stand-ins) and refuses every other one in one line naming the
file and the class, before anything of it runs.

``.npz`` members are read with ``allow_pickle=False``. A member that holds Python objects
(an object array: ``hpt_vertex_ids`` as written by older versions of this project, or the
dicts some community conversions keep) is read through the same restricted unpickler
instead of numpy's plain ``pickle.load``: object arrays in ``.npy`` are ordinary pickles,
so the same allow-list protects them, and such files keep loading without a conversion.

``hpt-data convert-smpl IN OUT.npz`` (:func:`convert_smpl_file`) writes what was read as a
plain ``.npz`` (dense numeric and text arrays only, no pickles), so a file is vetted once.

Torch-free on purpose: the CLI converts files without importing torch or smplx.
"""

from __future__ import annotations

import builtins
import collections
import copyreg
import functools
import logging
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpt_data.body.joints import NUM_JOINTS
from hpt_data.errors import HptError
from hpt_data.workdir import atomic_output

logger = logging.getLogger(__name__)

REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPL_NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)  # 207
#: a dict of str -> int (``hpt_vertex_ids``) is stored in a plain ``.npz`` as two arrays
DICT_KEYS_SUFFIX, DICT_VALUES_SUFFIX = "__keys", "__values"

# Everything that unpickling can raise on a malformed or hostile stream.
_UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    UnicodeDecodeError,
    struct.error,
    OSError,
    MemoryError,
    RecursionError,
)


# ------------------------------------------------------------------ chumpy stand-ins


class ChumpyStandIn:
    """An inert stand-in for a pickled chumpy object (SMPL v1.0 files hold ``chumpy.ch.Ch``).

    chumpy is not needed (and does not install beside numpy 1.26): unpickling only keeps the
    object's state dict; :func:`plain_value` turns the ones that are plain arrays (``Ch``,
    with its array under ``x``) or reorderings of them (``Select``, ``Reshape``,
    ``transpose``) into numpy arrays. Nothing of chumpy's own code runs.
    """

    chumpy_class: ClassVar[str] = "chumpy.ch.Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyStandIn:
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state if isinstance(state, dict) else {"x": state}


_CHUMPY_MODULES = ("chumpy", "chumpy.ch", "chumpy.reordering", "chumpy.ch_ops", "chumpy.linalg")


class _Unevaluable(Exception):
    """A chumpy expression that is not a stored array or a reordering of one."""

    def __init__(self, qualname: str) -> None:
        super().__init__(qualname)
        self.qualname = qualname


def _chumpy_array(obj: ChumpyStandIn) -> np.ndarray:
    state, kind = obj.state, obj.chumpy_class.rsplit(".", 1)[-1]
    if kind == "Ch" and "x" in state:
        return np.asarray(plain_value(state["x"]))
    if kind in ("Select", "Reshape", "transpose") and "a" in state:
        a = np.asarray(plain_value(state["a"]))
        if kind == "Select":
            out = a.ravel()[np.asarray(state["idxs"], dtype=np.int64)]
            shape = state.get("preferred_shape")
            return out.reshape(tuple(shape)) if shape is not None else out
        if kind == "Reshape":
            return a.reshape(state["newshape"])
        return np.transpose(a, state.get("axes"))
    raise _Unevaluable(obj.chumpy_class)


def plain_value(value: Any) -> Any:
    """``value`` with chumpy stand-ins replaced by numpy arrays (through dicts and lists).

    Sparse matrices are checked (``check_format(full_check=True)``): their index arrays come
    from the file, and scipy's C++ routines trust them.
    """
    if isinstance(value, ChumpyStandIn):
        return _chumpy_array(value)
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain_value(v) for v in value)
    if isinstance(value, _LoadedSparse):
        # rebuilt as scipy's own class (the per-load subclass stays behind), then checked
        real = value.real_class((value.data, value.indices, value.indptr), shape=value.shape)
        real.check_format(full_check=True)
        return real
    if hasattr(value, "check_format") and hasattr(value, "toarray"):
        value.check_format(full_check=True)
    return value


class _LoadedSparse:
    """Mixin of the per-load subclasses of scipy's sparse classes (see SmplUnpickler)."""

    real_class: ClassVar[type]


# --------------------------------------------------------------- restricted unpickler


class RefusedGlobal(pickle.UnpicklingError):
    """The stream asked for a global that SMPL files do not use."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


@functools.cache
def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:  # numpy >= 2 (and 1.26, which aliases it)
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    found: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for pkg in ("numpy.core", "numpy._core"):
        found[(f"{pkg}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{pkg}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            found[(f"{pkg}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


_SPARSE_MODULES = (
    "scipy.sparse",
    "scipy.sparse.csc",
    "scipy.sparse.csr",
    "scipy.sparse._csc",
    "scipy.sparse._csr",
    "scipy.sparse._arrays",
    "scipy.sparse.compressed",
    "scipy.sparse._compressed",
)
_SPARSE_NAMES = ("csc_matrix", "csr_matrix", "csc_array", "csr_array")
_BUILTINS = ("set", "frozenset", "object", "complex")


class SmplUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals SMPL model files use.

    ``find_class`` is the one place a pickle reaches code: a global that is not on the list
    raises :class:`RefusedGlobal` before it is imported or called. Allowed callables are
    constructors of inert data (arrays, dtypes, sparse matrices, sets); chumpy classes map
    to :class:`ChumpyStandIn`. ``copyreg._reconstructor`` (protocol 0/1 objects) is allowed
    only as ``object.__new__`` of one of those classes.

    Python classes handed to a stream are made per load (chumpy stand-ins, subclasses of
    scipy's sparse classes): a pickle can set attributes on a class it has on its stack
    (BUILD with slot state), and that must not change scipy for the rest of the process.
    The other globals are C types and functions, whose attributes cannot be set.
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="latin1")
        self._classes: set[type] = set()
        self._per_load: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = self._lookup(module, name)
        if isinstance(found, type):
            self._classes.add(found)
        return found

    def _lookup(self, module: str, name: str) -> Any:
        numpy_globals = _numpy_globals()
        if (module, name) in numpy_globals:
            return numpy_globals[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE_NAMES:
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                real = getattr(scipy.sparse, name)
                return self._class(name, name, (_LoadedSparse, real), {"real_class": real})
        if module in _CHUMPY_MODULES and name.isidentifier():
            qualname = f"{module}.{name}"
            return self._class(qualname, name, (ChumpyStandIn,), {"chumpy_class": qualname})
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return getattr(builtins, name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("_codecs", "encode"):
            return self._latin1_encode
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            return self._reconstructor
        raise RefusedGlobal(module, name)

    def _class(self, key: str, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> type:
        if key not in self._per_load:
            self._per_load[key] = type(name, bases, attrs)
        return self._per_load[key]

    def _latin1_encode(self, text: str, encoding: str = "latin1") -> bytes:
        """``_codecs.encode`` as Python 3 pickles bytes at protocol 2 (latin-1 only)."""
        if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
            raise RefusedGlobal("_codecs", f"encode({encoding!r})")
        return text.encode("latin1")

    def _reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        if base is not object or state is not None or cls not in self._classes:
            raise RefusedGlobal("copyreg", f"_reconstructor({getattr(cls, '__name__', cls)})")
        return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]


def _refusal(path: Path, exc: RefusedGlobal) -> HptError:
    return HptError(
        f"{path}: refuses to unpickle {exc.module}.{exc.name} (not a class SMPL files use); "
        "a genuine SMPL file needs nothing else: re-save a trusted one's arrays as a plain .npz"
    )


def read_smpl_pkl(path: Path) -> dict[str, Any]:
    """A SMPL ``.pkl`` through :class:`SmplUnpickler`, chumpy objects read as arrays."""
    try:
        with open(path, "rb") as fh:
            data = SmplUnpickler(fh).load()
    except RefusedGlobal as exc:
        raise _refusal(path, exc) from None
    except _UNPICKLE_ERRORS as exc:
        raise HptError(f"{path}: not a readable SMPL .pkl ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise HptError(f"{path}: not a SMPL .pkl (holds a {type(data).__name__}, not a dict)")
    return _plain_entries(data, path)


def _plain_entries(data: Mapping[Any, Any], path: Path) -> dict[str, Any]:
    """Resolve chumpy stand-ins per entry; an expression that is not a stored array is an
    error for a key smplx needs and is left out (logged) for any other key."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        try:
            out[str(key)] = plain_value(value)
        except _Unevaluable as exc:
            if key in REQUIRED:
                raise HptError(
                    f"{path}: {key} is a chumpy {exc.qualname} expression, not a stored array; "
                    "convert the file with chumpy installed (smplx's tools/clean_ch.py)"
                ) from None
            logger.debug("%s: left out %s (chumpy %s)", path, key, exc.qualname)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, RecursionError) as exc:
            raise HptError(f"{path}: {key} is malformed ({type(exc).__name__}: {exc})") from None
    return out


# ------------------------------------------------------------------------------ .npz


def read_smpl_npz(path: Path) -> dict[str, Any]:
    """A SMPL ``.npz``: plain members through numpy with ``allow_pickle=False``, object
    members through :class:`SmplUnpickler`; 0-d text and object arrays become their value,
    ``K__keys``/``K__values`` pairs the dict ``K``."""
    data: dict[str, Any] = {}
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise HptError(f"{path}: not an .npz archive (holds a single array)")
        with npz:
            for key in npz.files:
                try:
                    data[key] = npz[key]
                except ValueError as exc:
                    if "allow_pickle" not in str(exc):
                        raise
                    data[key] = _read_object_member(path, key)
    except HptError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise HptError(f"{path}: not a readable SMPL .npz ({type(exc).__name__}: {exc})") from exc
    for key, value in list(data.items()):
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "OU":
            data[key] = value.item()
    for key in [k for k in data if k.endswith(DICT_KEYS_SUFFIX)]:
        name = key[: -len(DICT_KEYS_SUFFIX)]
        values = data.get(name + DICT_VALUES_SUFFIX)
        if values is not None and name not in data:
            names = [str(k) for k in np.asarray(data.pop(key)).tolist()]
            data[name] = dict(zip(names, np.asarray(values).tolist(), strict=True))
            del data[name + DICT_VALUES_SUFFIX]
    return _plain_entries(data, path)


def _read_object_member(path: Path, key: str) -> np.ndarray:
    """One object-array member of an ``.npz``, its pickle read by :class:`SmplUnpickler`."""
    with zipfile.ZipFile(path) as zf:
        member = key + ".npy" if key + ".npy" in zf.namelist() else key
        with zf.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise HptError(f"{path}: {key} is an .npy of format {version}, not 1.0 or 2.0")
            try:
                array = SmplUnpickler(fh).load()
            except RefusedGlobal as exc:
                raise _refusal(path, exc) from None
            except _UNPICKLE_ERRORS as exc:
                raise HptError(
                    f"{path}: {key} is unreadable ({type(exc).__name__}: {exc})"
                ) from exc
    if not isinstance(array, np.ndarray) or array.shape != shape or not dtype.hasobject:
        raise HptError(f"{path}: {key} does not hold the object array its header announces")
    return array


def plain_arrays(data: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """What a plain ``.npz`` can hold without pickles, and the keys it cannot.

    Sparse matrices become dense float64, chumpy values arrays, text a 0-d unicode array,
    a dict of str -> int the pair ``K__keys``/``K__values``; object arrays and other
    dicts are left out (their keys returned).
    """
    out: dict[str, np.ndarray] = {}
    left_out: list[str] = []
    for key, value in plain_value(dict(data)).items():
        if hasattr(value, "toarray"):
            value = np.asarray(value.toarray(), dtype=np.float64)
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and all(
                isinstance(v, int | np.integer) for v in value.values()
            ):
                out[key + DICT_KEYS_SUFFIX] = np.array(list(value), dtype=str)
                out[key + DICT_VALUES_SUFFIX] = np.array(list(value.values()), dtype=np.int64)
            else:
                left_out.append(key)
            continue
        array = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if array.dtype.hasobject:
            left_out.append(key)
        else:
            out[key] = array
    return out, left_out


def write_plain_npz(data: Mapping[str, Any], path: Path) -> list[str]:
    """Write :func:`plain_arrays` of ``data`` to ``path`` atomically (temporary name in the
    same folder, then rename); returns the keys left out."""
    arrays, left_out = plain_arrays(data)
    with atomic_output(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return left_out


# ------------------------------------------------------------------------ validation


def shape_of(value: Any) -> tuple[int, ...]:
    return tuple(getattr(value, "shape", ()))


def validate_smpl_arrays(data: Mapping[str, Any], path: Path | str) -> None:
    """Check keys, kinds and shapes, so that smplx never fails with an obscure error."""
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise HptError(f"{path}: not a SMPL model, missing {', '.join(missing)}")
    for key in REQUIRED:
        value = data[key]
        numeric = isinstance(value, np.ndarray) and value.dtype.kind in "biuf"
        if not (numeric or hasattr(value, "toarray")):
            what = (
                f"a {value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__
            )
            raise HptError(f"{path}: {key} holds {what}, not numbers")
    v = shape_of(data["v_template"])
    if len(v) != 2 or v[1] != 3:
        raise HptError(f"{path}: v_template has shape {v}, expected (V, 3)")
    n = v[0]
    checks = {
        "shapedirs": (shape_of(data["shapedirs"])[:2], (n, 3)),
        "posedirs": (shape_of(data["posedirs"]), (n, 3, SMPL_NUM_POSE_BASIS)),
        "J_regressor": (shape_of(data["J_regressor"]), (NUM_JOINTS, n)),
        "weights": (shape_of(data["weights"]), (n, NUM_JOINTS)),
        "kintree_table": (shape_of(data["kintree_table"]), (2, NUM_JOINTS)),
    }
    for key, (got, want) in checks.items():
        if got != want:
            raise HptError(f"{path}: {key} has shape {got}, expected {want}")
    if len(shape_of(data["shapedirs"])) != 3:
        raise HptError(
            f"{path}: shapedirs has shape {shape_of(data['shapedirs'])}, expected (V, 3, K)"
        )
    f = shape_of(data["f"])
    if len(f) != 2 or f[1] != 3:
        raise HptError(f"{path}: f has shape {f}, expected (F, 3)")


def read_smpl_file(path: Path) -> dict[str, Any]:
    """A ``.pkl`` or ``.npz`` in SMPL's layout, read safely and validated."""
    if path.suffix == ".npz":
        data = read_smpl_npz(path)
    elif path.suffix == ".pkl":
        data = read_smpl_pkl(path)
    else:
        raise HptError(f"{path}: not a body model file (expected .pkl or .npz)")
    validate_smpl_arrays(data, path)
    return data


def convert_smpl_file(src: str | Path, dst: str | Path) -> tuple[Path, dict[str, Any], list[str]]:
    """Read ``src`` (``.pkl`` or ``.npz``) safely, validate it, write a plain ``dst`` ``.npz``.

    Returns the written path, the data read and the keys left out (not plain arrays).
    """
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if not src.is_file():
        raise HptError(f"{src}: body model file not found")
    if dst.suffix != ".npz":
        raise HptError(f"{dst}: the output must be an .npz file")
    if dst.resolve() == src.resolve():
        raise HptError(f"{dst}: the output would overwrite the input")
    data = read_smpl_file(src)
    left_out = write_plain_npz(data, dst)
    return dst, data, left_out
