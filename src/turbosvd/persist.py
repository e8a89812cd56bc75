"""Safe model files: ``SVD.save(path)`` and ``turbosvd.load(path)``, with no pickle.

Unlike ``turbosvd.dump`` (Surprise's pickle format, kept for compatibility), a model file
holds only numeric and string arrays plus JSON, so loading a file from an untrusted source
cannot execute code. A loaded model is fitted: it predicts and tests with exactly the same
floats as the saved one, and it carries its training ratings (the seen user/item pairs,
the rating scale and the global mean), so nothing else is needed to serve it.

File format (``turbosvd-model``, version 1)
-------------------------------------------
A ZIP archive (stored, or deflated with ``compress=True``) whose members are, in order:

``metadata.json``
    UTF-8 JSON object: ``format`` (``"turbosvd-model"``), ``format_version`` (1),
    ``turbosvd_version``, ``class`` (``"SVD"``), ``params`` (every constructor parameter,
    see below), ``trainset`` (``n_users``, ``n_items``, ``n_ratings``, ``rating_scale``,
    ``global_mean``, and the type tag of ``user_ids`` and ``item_ids``), ``arrays`` (the
    dtype string and shape of every array member, checked on load), and optionally
    ``history`` (the learning curve, ``SVD.history_``) and ``extra`` (free-form JSON given
    to ``save``).
``pu.npy``, ``qi.npy``, ``bu.npy``, ``bi.npy``
    The factors and biases, in the model's floating type (float64 or float32).
``user_ids.npy``, ``item_ids.npy``
    The raw id of every inner id. Tag ``"str"``: a unicode array (``<U``), loaded back as
    Python ``str``; tag ``"int"``: int64, loaded back as Python ``int`` (an object array,
    as the data layer builds them); tag ``"float"``: float64, loaded back as Python
    ``float``; tag ``"numeric"``: a numeric array stored and loaded with its own dtype
    (ids from a numeric DataFrame column). Other id types are refused by ``save``.
``train_users.npy``, ``train_items.npy``, ``train_ratings.npy``
    The training ratings in the trainset's order: inner ids (int32) and ratings
    (float32 when that is exact, else float64). The trainset is rebuilt from them.

Every ``.npy`` member is a plain NumPy array, so the file is also a valid ``.npz``:
``numpy.load(path, allow_pickle=False)`` opens it. Constructor parameters are stored as
JSON values; a numpy dtype is stored as ``{"__dtype__": "float32"}`` and a
``numpy.random.RandomState`` as ``{"__random_state__": {...}}`` (its full MT19937 state).

Files are written atomically: to a temporary file in the target's directory, flushed and
fsynced, then renamed over ``path``; a failure at any point leaves what was at ``path``
untouched. Bytes are deterministic: saving the same model twice gives identical files.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import zipfile
from typing import IO, Any

import numpy as np

from ._files import UntrustedZip, atomic_write, json_depth

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileMixin",
    "load",
    "read_metadata",
    "register_model",
    "save",
]

FORMAT_NAME = "turbosvd-model"
FORMAT_VERSION = 1

_META = "metadata.json"
_IDS = ("user_ids", "item_ids")
_TRAIN = ("train_users", "train_items", "train_ratings")
# Constructor parameters that are resolved at construction and not stored (Surprise's
# ``lr_all`` and ``reg_all`` become the eight ``lr_*`` / ``reg_*`` attributes).
_RESOLVED_PARAMS = frozenset({"lr_all", "reg_all"})
# Fixed timestamp of the ZIP entries, so identical models give identical files.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Deepest nesting of lists and dicts the metadata may have (the format itself needs 4;
# ``extra`` is free-form). Deeper files are refused before any recursive walk.
_MAX_DEPTH = 32
# Largest metadata member read (history and extra included).
_META_MAX_BYTES = 64 << 20
# Scalar types a ``{"__dtype__": ...}`` parameter may name.
_PARAM_DTYPES = frozenset(
    {"bool", "float16", "float32", "float64"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)


_MODELS: dict[str, type] = {}


def register_model(cls: type) -> type:
    """Let ``save`` and ``load`` handle ``cls`` (called by the module defining the class).

    The class implements the model-file protocol (see CONTRIBUTING.md):

    - ``_file_arrays``: the names of its arrays (tuple of str);
    - ``_model_arrays(self) -> dict[str, numpy.ndarray]``: those arrays, numeric only;
    - ``_from_arrays(cls, trainset, arrays, params)``: the fitted model, raising
      ``ValueError`` if the arrays or parameters do not fit together;
    - optionally ``_file_required``: the attributes a fitted model always has (default
      ``_file_arrays``; ``save`` refuses a model missing one as unfitted).

    Files name the class by ``cls.__name__``, which must be unique. Returns ``cls``, so it
    also works as a class decorator.
    """
    for hook in ("_file_arrays", "_model_arrays", "_from_arrays"):
        if not hasattr(cls, hook):
            raise TypeError(f"{cls.__name__} cannot be registered: it has no {hook}")
    clash = set(cls._file_arrays) & {*_IDS, *_TRAIN}
    if clash:
        raise ValueError(f"{cls.__name__}._file_arrays uses reserved names {sorted(clash)}")
    known = _MODELS.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(f"another model class is already registered as {cls.__name__!r}")
    _MODELS[cls.__name__] = cls
    return cls


def _model_classes() -> dict[str, type]:
    return dict(_MODELS)


# --------------------------------------------------------------------------- saving
class ModelFileMixin:
    """Adds ``save`` to an estimator; the file is read back with ``turbosvd.load``."""

    def save(self, path, *, compress: bool = False, extra: dict | None = None) -> str:
        """Save this fitted model to ``path`` as a safe model file (no pickle).

        Parameters
        ----------
        path : str or os.PathLike
            Destination, used exactly as given (no suffix is added). An existing file is
            replaced atomically; it is left untouched if saving fails.
        compress : bool, default False
            Deflate the members (smaller files for string ids and ratings, slower to write).
        extra : dict, optional
            JSON-serialisable data stored under ``"extra"`` in the metadata (for example
            where the training data came from); read it back with ``read_metadata``.

        Returns
        -------
        str
            The path written.

        Raises
        ------
        ValueError
            If the model is not fitted, if its raw ids are not all strings, all integers or
            all floats, or if a parameter cannot be stored as JSON.

        Examples
        --------
        >>> algo = SVD(random_state=0).fit(trainset)  # doctest: +SKIP
        >>> algo.save("model.tsvd")  # doctest: +SKIP
        >>> same = turbosvd.load("model.tsvd")  # doctest: +SKIP
        """
        return save(self, path, compress=compress, extra=extra)


def save(model, path, *, compress: bool = False, extra: dict | None = None) -> str:
    """Save a fitted model to ``path``; see ``ModelFileMixin.save`` and the module notes."""
    path = os.fspath(path)
    classes = _model_classes()
    name = type(model).__name__
    if classes.get(name) is not type(model):
        raise ValueError(
            f"cannot save a {type(model).__module__}.{name}: model files hold "
            f"{', '.join(classes)} models only (use turbosvd.dump to pickle other objects)"
        )
    required = getattr(type(model), "_file_required", type(model)._file_arrays)
    if "trainset" not in vars(model) or any(getattr(model, k, None) is None for k in required):
        raise ValueError(f"cannot save an unfitted {name}: call fit(trainset) first")
    if not isinstance(compress, bool):
        raise TypeError(f"compress must be a bool, got {compress!r}")
    arrays, meta = _serialise(model, extra)
    _check_loadable(arrays, meta)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            info = zipfile.ZipInfo(_META, date_time=_ZIP_DATE)
            info.compress_type = method
            zf.writestr(info, json.dumps(meta, indent=1, allow_nan=False).encode("utf-8"))
            for member, array in arrays.items():
                info = zipfile.ZipInfo(member + ".npy", date_time=_ZIP_DATE)
                info.compress_type = method
                with zf.open(info, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)

    atomic_write(path, write)
    return path


def _serialise(model, extra) -> tuple[dict[str, np.ndarray], dict]:
    trainset = model.trainset
    name = type(model).__name__
    factors = model._model_arrays()
    if set(factors) != set(type(model)._file_arrays):
        raise ValueError(f"{name}._model_arrays() does not give {type(model)._file_arrays}")
    users, items, ratings = trainset.rating_arrays()
    user_ids, user_tag = _encode_ids(trainset.raw_user_ids, "user")
    item_ids, item_tag = _encode_ids(trainset.raw_item_ids, "item")
    ratings = np.asarray(ratings, dtype=np.float64)
    compact = ratings.astype(np.float32)
    if np.array_equal(compact, ratings):
        ratings = compact
    arrays = {
        **{k: np.ascontiguousarray(factors[k]) for k in type(model)._file_arrays},
        "user_ids": user_ids,
        "item_ids": item_ids,
        "train_users": np.ascontiguousarray(users, dtype=np.int32),
        "train_items": np.ascontiguousarray(items, dtype=np.int32),
        "train_ratings": np.ascontiguousarray(ratings),
    }
    lo, hi = trainset.rating_scale
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "turbosvd_version": _package_version(),
        "class": name,
        "params": _params(model),
        "trainset": {
            "n_users": int(trainset.n_users),
            "n_items": int(trainset.n_items),
            "n_ratings": int(trainset.n_ratings),
            "rating_scale": [_json_number("rating_scale", lo), _json_number("rating_scale", hi)],
            "global_mean": _json_number("global_mean", trainset.global_mean),
            "user_ids": user_tag,
            "item_ids": item_tag,
        },
        "arrays": {k: {"dtype": a.dtype.str, "shape": list(a.shape)} for k, a in arrays.items()},
    }
    history = getattr(model, "history_", None)
    if history is not None:
        meta["history"] = {k: [float(x) for x in v] for k, v in history.items()}
    if extra is not None:
        if not isinstance(extra, dict):
            raise TypeError(f"extra must be a dict, got {type(extra).__name__}")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"extra is not JSON-serialisable: {e}") from None
        meta["extra"] = extra
    return arrays, meta


def _check_loadable(arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Refuse to write what ``load`` would refuse: never an unloadable file."""
    for member, array in arrays.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise ValueError(
                f"cannot save: {member} holds NaN or infinite values (training diverged, or "
                "init_std_dev is too large for the model's dtype); such a model cannot be used"
            )
    if json_depth(meta, _MAX_DEPTH) > _MAX_DEPTH:
        raise ValueError(
            f"cannot save: the metadata (with extra) is nested more than {_MAX_DEPTH} levels "
            "deep, the most a model file may hold"
        )


def _package_version() -> str:
    from ._version import __version__

    return __version__


def _json_number(name: str, value) -> int | float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"cannot save {name}={value!r}: not a real number")
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot save {name}={value!r}: not a finite number")
    return value


def _params(model) -> dict:
    """Every constructor parameter, read generically from the signature."""
    out = {}
    for p in inspect.signature(type(model).__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in vars(model):
            if p.name in _RESOLVED_PARAMS:
                continue
            raise ValueError(
                f"cannot save parameter {p.name!r}: the {type(model).__name__} has no "
                f"attribute of that name"
            )
        out[p.name] = _encode_param(p.name, getattr(model, p.name))
    return out


def _encode_param(name: str, value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        return _json_number(name, value)
    if isinstance(value, np.random.RandomState):
        kind, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return {
            "__random_state__": {
                "kind": kind,
                "keys": keys.tolist(),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            }
        }
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        dt = np.dtype(value)
        return {"__dtype__": dt.name, "as": "dtype" if isinstance(value, np.dtype) else "type"}
    if isinstance(value, (list, tuple)):
        return [_encode_param(name, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode_param(name, v) for k, v in value.items()}
    raise ValueError(
        f"cannot save parameter {name}={value!r}: values of type {type(value).__name__} "
        "cannot be stored in a model file"
    )


def _decode_param(value):
    """A parameter value from its JSON form; ``ValueError`` for an invalid tagged value."""
    if isinstance(value, list):
        return [_decode_param(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__random_state__" in value:
        return _decode_random_state(value["__random_state__"])
    if "__dtype__" in value:
        name = value["__dtype__"]
        if (
            not isinstance(name, str)
            or name not in _PARAM_DTYPES
            or value.get("as", "type") not in ("dtype", "type")
        ):
            raise ValueError(f"unsupported dtype entry {value!r}")
        dt = np.dtype(name)
        return dt if value.get("as") == "dtype" else dt.type
    return {k: _decode_param(v) for k, v in value.items()}


def _decode_random_state(s) -> np.random.RandomState:
    def integer(x, lo, hi):
        return isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi

    keys = s.get("keys") if isinstance(s, dict) else None
    if not (
        isinstance(s, dict)
        and s.get("kind") == "MT19937"
        and isinstance(keys, list)
        and len(keys) == 624
        and all(integer(k, 0, 2**32 - 1) for k in keys)
        and integer(s.get("pos"), 0, 624)
        and s.get("has_gauss") in (0, 1)
        and not isinstance(s.get("has_gauss"), bool)
        and _is_number(s.get("cached_gaussian"))
    ):
        raise ValueError(
            "invalid random_state entry (expected an MT19937 state: kind, 624 keys, pos, "
            "has_gauss, cached_gaussian)"
        )
    rs = np.random.RandomState()
    rs.set_state(
        (
            "MT19937",
            np.asarray(keys, dtype=np.uint32),
            s["pos"],
            s["has_gauss"],
            float(s["cached_gaussian"]),
        )
    )
    return rs


def _encode_ids(ids: np.ndarray, what: str) -> tuple[np.ndarray, dict]:
    """A pickle-free array for raw ids and its type tag."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "biuf":
        return np.ascontiguousarray(ids), {"type": "numeric"}
    if ids.dtype.kind == "U":
        return np.ascontiguousarray(ids), {"type": "str"}
    if ids.dtype.kind != "O":
        raise ValueError(f"cannot save {what} ids of dtype {ids.dtype}: use str or int ids")
    values = ids.tolist()
    kinds = {_id_kind(v) for v in values}
    if kinds <= {"str"}:
        arr, tag = np.array(values, dtype=str) if values else np.empty(0, "<U1"), "str"
    elif kinds == {"int"}:
        try:
            arr, tag = np.array(values, dtype=np.int64), "int"
        except OverflowError:
            raise ValueError(f"cannot save {what} ids: some do not fit in int64") from None
    elif kinds == {"float"}:
        arr, tag = np.array(values, dtype=np.float64), "float"
    else:
        odd = sorted(k for k in kinds if k not in ("str", "int", "float"))
        if odd:
            found = ", ".join(odd)
            bad = next(v for v in values if _id_kind(v) in odd)
        else:
            found = "a mix of " + " and ".join(sorted(kinds))
            bad = next(v for v in values if _id_kind(v) != _id_kind(values[0]))
        raise ValueError(
            f"cannot save {what} ids: model files hold ids that are all str, all int or all "
            f"float, but found {found} (e.g. {bad!r}); convert the ids before fitting"
        )
    if arr.tolist() != values:  # e.g. str ids ending in NUL characters
        raise ValueError(f"cannot save {what} ids: some do not survive conversion to {arr.dtype}")
    return arr, {"type": tag}


def _id_kind(v) -> str:
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (numbers.Integral, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    return type(v).__name__


# -------------------------------------------------------------------------- loading
def load(path):
    """Load a model saved with ``model.save(path)``, fitted and ready to predict.

    The file holds the model's arrays and its trainset (raw ids, the training ratings,
    rating scale and global mean), so the loaded model predicts, tests, recommends (seen
    items excluded) and folds in users exactly as the saved one. No pickle is involved:
    the file holds JSON and plain NumPy arrays, read with ``allow_pickle=False``, and only
    registered model classes are built.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save`` (any registered class: ``SVD``, ``ALS``, ...).

    Returns
    -------
    AlgoBase
        An instance of the saved class (e.g. ``SVD``), fitted, with the saved constructor
        parameters, arrays, learning curve (``history_``, if it was recorded) and the
        rebuilt ``trainset``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a turbosvd model file, is truncated or corrupted, or was written
        in a newer format version. The message names the file and the problem.
    """
    path = os.fspath(path)
    with _Reader(path) as reader:
        meta = reader.metadata()
        cls = _model_class(path, meta)
        keys = (*cls._file_arrays, *_IDS, *_TRAIN)
        reader.check_sizes(keys)
        arrays = {k: reader.array(k) for k in keys}
    return _build(path, meta, cls, arrays)


def read_metadata(path) -> dict:
    """The metadata of a model file (parameters, sizes, history, extra), without its arrays.

    Raises the same errors as ``load``.
    """
    path = os.fspath(path)
    with _Reader(path) as reader:
        return reader.metadata()


class _Reader(UntrustedZip):
    """Opens a model file and validates it member by member, with errors naming the file."""

    def __init__(self, path: str):
        super().__init__(path)
        self._meta: dict | None = None

    def metadata(self) -> dict:
        if self._meta is not None:
            return self._meta
        if not self.has(_META):
            self.fail(f"not a turbosvd model file (no {_META} member)")
        raw = self.read_bytes(_META, _META_MAX_BYTES)
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self.fail(f"corrupted model file: {_META} is not valid JSON ({e})")
        except RecursionError:
            self.fail(f"{_META} is nested too deeply (at most {_MAX_DEPTH} levels)")
        if json_depth(meta, _MAX_DEPTH) > _MAX_DEPTH:
            self.fail(f"{_META} is nested more than {_MAX_DEPTH} levels deep")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            found = meta.get("format") if isinstance(meta, dict) else None
            self.fail(f"not a turbosvd model file (format {found!r}, expected {FORMAT_NAME!r})")
        version = meta.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.fail(f"corrupted model file: invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            self.fail(
                f"model format version {version} is newer than this turbosvd "
                f"({_package_version()}) can read (version {FORMAT_VERSION}); upgrade turbosvd "
                f"(the file was written by turbosvd {meta.get('turbosvd_version', '?')})"
            )
        self._check_schema(meta)
        self._meta = meta
        return meta

    def _check_schema(self, meta: dict) -> None:
        def need(obj, key, types, where):
            value = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
                self.fail(f"corrupted model file: {where}{key} is missing or invalid ({value!r})")
            return value

        need(meta, "class", (str,), "")
        need(meta, "params", (dict,), "")
        ts = need(meta, "trainset", (dict,), "")
        for key in ("n_users", "n_items", "n_ratings"):
            if need(ts, key, (int,), "trainset.") < 0:
                self.fail(f"corrupted model file: trainset.{key} is negative")
        scale = need(ts, "rating_scale", (list,), "trainset.")
        if len(scale) != 2 or not all(_is_number(x) for x in scale) or scale[0] > scale[1]:
            self.fail(
                f"corrupted model file: trainset.rating_scale is invalid ({scale!r}; two "
                "finite numbers, lowest first)"
            )
        if not _is_number(ts.get("global_mean")):
            self.fail("corrupted model file: trainset.global_mean is missing or invalid")
        for key in _IDS:
            tag = need(ts, key, (dict,), "trainset.")
            if tag.get("type") not in ("str", "int", "float", "numeric"):
                self.fail(f"corrupted model file: unknown id type {tag.get('type')!r} ({key})")
        arrays = need(meta, "arrays", (dict,), "")
        for key in _IDS + _TRAIN:
            need(arrays, key, (dict,), "arrays.")
        for key in arrays:
            spec = need(arrays, key, (dict,), "arrays.")
            need(spec, "dtype", (str,), f"arrays.{key}.")
            shape = need(spec, "shape", (list,), f"arrays.{key}.")
            if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
                self.fail(f"corrupted model file: arrays.{key}.shape is invalid ({shape!r})")
        history = meta.get("history")
        if history is not None and not (
            isinstance(history, dict)
            and all(isinstance(v, list) and all(_is_number(x) for x in v) for v in history.values())
        ):
            self.fail("corrupted model file: history is invalid")

    def _spec_dtype(self, key: str) -> np.dtype:
        spec = self.metadata()["arrays"].get(key)
        if spec is None:
            self.fail(f"corrupted model file: arrays.{key} is missing")
        return self.check_dtype(f"arrays.{key}", spec["dtype"])

    def check_sizes(self, keys) -> None:
        """Refuse, before reading, arrays whose declared sizes exceed the machine's memory."""
        from ._validation import check_alloc

        total = 0
        for key in keys:
            spec = self.metadata()["arrays"][key]
            total += self._spec_dtype(key).itemsize * math.prod(spec["shape"])
        try:
            check_alloc(f"the model's arrays ({', '.join(keys)})", total)
        except ValueError as e:
            self.fail(str(e))

    def array(self, key: str) -> np.ndarray:
        """Read one array member: header checked against the metadata before allocating."""
        spec = self.metadata()["arrays"][key]
        return self.read_npy(key + ".npy", self._spec_dtype(key), tuple(spec["shape"]))


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _model_class(path: str, meta: dict) -> type:
    cls = _MODELS.get(meta["class"])
    if cls is None:
        raise ValueError(
            f"{path}: unknown model class {meta['class']!r} (this turbosvd knows "
            f"{', '.join(_MODELS)})"
        )
    return cls


def _build(path: str, meta: dict, cls: type, arrays: dict[str, np.ndarray]):
    """The model of a checked file: trainset from the generic members, the rest by ``cls``."""
    from ._threads import cpu_count
    from .trainset import Trainset

    def fail(problem):
        raise ValueError(f"{path}: corrupted model file: {problem}")

    ts = meta["trainset"]
    n_users, n_items, n_ratings = ts["n_users"], ts["n_items"], ts["n_ratings"]
    users, items, ratings = (arrays[k] for k in _TRAIN)
    if users.dtype != np.int32 or items.dtype != np.int32:
        fail("train_users and train_items must be int32")
    if ratings.dtype not in (np.float32, np.float64):
        fail(f"train_ratings must be float32 or float64, got {ratings.dtype}")
    if not users.shape == items.shape == ratings.shape == (n_ratings,):
        fail(
            f"training arrays {users.shape}, {items.shape}, {ratings.shape} do not match "
            f"n_ratings={n_ratings}"
        )
    if n_ratings and not (
        users.min() >= 0 and users.max() < n_users and items.min() >= 0 and items.max() < n_items
    ):
        fail("training inner ids are out of range")
    if not np.isfinite(ratings).all():
        fail("train_ratings holds NaN or infinite values")
    user_ids = _decode_ids(arrays["user_ids"], ts["user_ids"]["type"], n_users, "user", fail)
    item_ids = _decode_ids(arrays["item_ids"], ts["item_ids"]["type"], n_items, "item", fail)

    signature = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(meta["params"]) - set(signature))
    if unknown:
        raise ValueError(
            f"{path}: the model has parameters this turbosvd ({_package_version()}) does not "
            f"know: {', '.join(unknown)} (written by turbosvd {meta.get('turbosvd_version')}); "
            "upgrade turbosvd"
        )
    try:
        params = {k: _decode_param(v) for k, v in meta["params"].items()}
    except ValueError as e:
        fail(f"invalid parameters ({e})")
    n_jobs = params.get("n_jobs")
    if isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and n_jobs > cpu_count():
        # Thread counts belong to the machine that saved the model (results do not depend
        # on them): never ask this one for more threads than it has CPUs.
        params["n_jobs"] = cpu_count()
    trainset = Trainset.from_arrays(
        users,
        items,
        ratings.astype(np.float64, copy=False),
        user_ids,
        item_ids,
        tuple(ts["rating_scale"]),
        global_mean=ts["global_mean"],
    )
    try:
        model = cls._from_arrays(trainset, {k: arrays[k] for k in cls._file_arrays}, params)
    except (TypeError, ValueError) as e:
        fail(str(e))
    if "history" in meta:
        model.history_ = {k: list(v) for k, v in meta["history"].items()}
    return model


def _decode_ids(arr: np.ndarray, tag: str, n: int, what: str, fail) -> np.ndarray:
    if arr.shape != (n,):
        fail(f"{what}_ids has shape {arr.shape}, expected ({n},)")
    expected_kind = {"str": "U", "int": "i", "float": "f", "numeric": "biuf"}[tag]
    if arr.dtype.kind not in expected_kind:
        fail(f"{what}_ids is {arr.dtype}, which does not match its type tag {tag!r}")
    if tag == "numeric":
        out = arr
    else:
        out = np.empty(n, dtype=object)
        out[:] = arr.tolist()
    if len(set(out.tolist())) != n:
        fail(f"{what}_ids holds duplicate ids")
    return out
