"""The ``Trainset`` class: Surprise's interface over array storage.

A trainset keeps its ratings as three arrays in construction order (inner user id, inner
item id, rating) plus the raw id of every inner id. Surprise's ``ur``, ``ir`` and id
dictionaries are built the first time someone reads them, with Surprise's types and
orders; training and prediction never need them.
"""

from __future__ import annotations

import copy as _copy
import numbers
from collections import defaultdict
from itertools import repeat

import numpy as np

from . import _objects, _sgd
from ._growth import append_rows

__all__ = ["Trainset"]


def _is_inner(x, n: int) -> bool:
    """``x in range(n)`` with dict semantics (``3``, ``3.0``, ``np.int64(3)`` and ``True``)."""
    if isinstance(x, (numbers.Integral, np.integer)):
        return 0 <= x < n
    if isinstance(x, (float, np.floating)):
        return x == x and float(x).is_integer() and 0 <= x < n
    return False


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the array itself stays writable for its owner)."""
    view = a.view()
    view.flags.writeable = False
    return view


def _non_decreasing(a: np.ndarray) -> bool:
    """Whether ``a`` is sorted (checked in chunks, so no n-sized temporary)."""
    step = 1 << 22
    for start in range(0, max(len(a) - 1, 0), step):
        stop = min(len(a), start + step + 1)
        if not (a[start + 1 : stop] >= a[start : stop - 1]).all():
            return False
    return True


class Trainset:
    """A training set, as built by ``Dataset.build_full_trainset`` or the CV iterators.

    Parameters follow Surprise's constructor (``ur``, ``ir``, counts, ``rating_scale``
    and the raw-to-inner id dicts); turbosvd's own loaders build trainsets from arrays.

    Attributes
    ----------
    ur, ir : collections.defaultdict of list
        ``ur[u]`` lists ``(item_inner_id, rating)`` for user ``u`` in insertion order;
        ``ir[i]`` lists ``(user_inner_id, rating)``. Built on first access.
    n_users, n_items, n_ratings : int
    rating_scale : tuple
    """

    def __init__(
        self,
        ur,
        ir,
        n_users,
        n_items,
        n_ratings,
        rating_scale,
        raw2inner_id_users,
        raw2inner_id_items,
    ):
        users, items, ratings = [], [], []
        for u, u_ratings in ur.items():
            for i, r in u_ratings:
                users.append(u)
                items.append(i)
                ratings.append(r)
        user_ids = np.empty(n_users, dtype=object)
        for raw, inner in raw2inner_id_users.items():
            user_ids[inner] = raw
        item_ids = np.empty(n_items, dtype=object)
        for raw, inner in raw2inner_id_items.items():
            item_ids[inner] = raw
        self._init_arrays(
            np.asarray(users, dtype=np.int32),
            np.asarray(items, dtype=np.int32),
            np.asarray(ratings, dtype=np.float64),
            user_ids,
            item_ids,
            rating_scale,
        )
        self.n_ratings = n_ratings
        self._ur, self._ir = ur, ir
        self._r2i_users, self._r2i_items = raw2inner_id_users, raw2inner_id_items
        self._keep_dicts = True

    @classmethod
    def from_arrays(
        cls, users, items, ratings, user_ids, item_ids, rating_scale, *, global_mean=None
    ) -> Trainset:
        """Build a trainset from arrays (what loaders, model files and Spark use).

        Parameters
        ----------
        users, items : numpy.ndarray of int32
            Inner ids of each rating, in ``[0, len(user_ids))`` and ``[0, len(item_ids))``.
        ratings : numpy.ndarray of float64
        user_ids, item_ids : numpy.ndarray
            The raw id of every inner id.
        rating_scale : tuple of (float, float)
        global_mean : float, optional
            ``global_mean`` as given (e.g. a saved model's); None computes the mean of
            ``ratings`` when first read.
        """
        self = cls.__new__(cls)
        self._init_arrays(users, items, ratings, user_ids, item_ids, rating_scale)
        if global_mean is not None:
            self._global_mean = np.float64(global_mean)
        return self

    @classmethod
    def _from_arrays(cls, users, items, ratings, user_ids, item_ids, rating_scale) -> Trainset:
        """``from_arrays`` without ``global_mean`` (the name the data layer used first)."""
        return cls.from_arrays(users, items, ratings, user_ids, item_ids, rating_scale)

    def _init_arrays(self, users, items, ratings, user_ids, item_ids, rating_scale):
        self._users = users
        self._items = items
        self._ratings = ratings
        self._user_ids = user_ids
        self._item_ids = item_ids
        self.n_users = len(user_ids)
        self.n_items = len(item_ids)
        self.n_ratings = len(ratings)
        self.rating_scale = rating_scale
        self._global_mean = None
        self._inner2raw_id_users = None
        self._inner2raw_id_items = None
        self._ur = self._ir = None
        self._r2i_users = self._r2i_items = None
        self._keep_dicts = False
        self._revision = 0

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = {
            "users": self._users,
            "items": self._items,
            "ratings": self._ratings,
            "user_ids": self._user_ids,
            "item_ids": self._item_ids,
            "rating_scale": self.rating_scale,
            "n_ratings": self.n_ratings,
            "global_mean": self._global_mean,
        }
        if self._keep_dicts:
            state["dicts"] = (self._ur, self._ir, self._r2i_users, self._r2i_items)
        return state

    def __setstate__(self, state):
        if "ur" in state:  # a scikit-surprise Trainset pickle
            Trainset.__init__(
                self,
                state["ur"],
                state["ir"],
                state["n_users"],
                state["n_items"],
                state["n_ratings"],
                state["rating_scale"],
                state["_raw2inner_id_users"],
                state["_raw2inner_id_items"],
            )
            self._global_mean = state.get("_global_mean")
            return
        self._init_arrays(
            state["users"],
            state["items"],
            state["ratings"],
            state["user_ids"],
            state["item_ids"],
            state["rating_scale"],
        )
        self.n_ratings = state["n_ratings"]
        self._global_mean = state["global_mean"]
        if "dicts" in state:
            self._ur, self._ir, self._r2i_users, self._r2i_items = state["dicts"]
            self._keep_dicts = True

    # ------------------------------------------------------------ lazy Surprise views
    def _grouped(self, by_user: bool):
        keys = self._users if by_user else self._items
        return _sgd.group_rows(keys, self.n_users if by_user else self.n_items)

    def _build_dict(self, by_user: bool):
        perm, indptr = self._grouped(by_user)
        other = (self._items if by_user else self._users)[perm].tolist()
        ratings = self._ratings[perm].tolist()
        out = defaultdict(list)
        bounds = indptr.tolist()
        for key in range(len(bounds) - 1):
            s, e = bounds[key], bounds[key + 1]
            out[key] = list(zip(other[s:e], ratings[s:e], strict=True))
        return out

    @property
    def ur(self):
        if self._ur is None:
            self._ur = self._build_dict(by_user=True)
        return self._ur

    @ur.setter
    def ur(self, value):
        self._ur = value

    @property
    def ir(self):
        if self._ir is None:
            self._ir = self._build_dict(by_user=False)
        return self._ir

    @ir.setter
    def ir(self, value):
        self._ir = value

    @property
    def _raw2inner_id_users(self) -> dict:
        if self._r2i_users is None:
            self._r2i_users = dict(zip(self._user_ids.tolist(), range(self.n_users), strict=True))
        return self._r2i_users

    @_raw2inner_id_users.setter
    def _raw2inner_id_users(self, value):
        self._r2i_users = value

    @property
    def _raw2inner_id_items(self) -> dict:
        if self._r2i_items is None:
            self._r2i_items = dict(zip(self._item_ids.tolist(), range(self.n_items), strict=True))
        return self._r2i_items

    @_raw2inner_id_items.setter
    def _raw2inner_id_items(self, value):
        self._r2i_items = value

    # ------------------------------------------------------------- Surprise methods
    def knows_user(self, uid) -> bool:
        """Whether the *inner* user id ``uid`` is part of the trainset."""
        if self._ur is not None:
            return uid in self._ur
        return _is_inner(uid, self.n_users)

    def knows_item(self, iid) -> bool:
        """Whether the *inner* item id ``iid`` is part of the trainset."""
        if self._ir is not None:
            return iid in self._ir
        return _is_inner(iid, self.n_items)

    def to_inner_uid(self, ruid):
        """Convert a raw user id to an inner id; ``ValueError`` if unknown."""
        try:
            return self._raw2inner_id_users[ruid]
        except KeyError:
            raise ValueError("User " + str(ruid) + " is not part of the trainset.") from None

    def to_raw_uid(self, iuid):
        """Convert an inner user id to the raw id; ``ValueError`` if invalid."""
        if self._inner2raw_id_users is None:
            self._inner2raw_id_users = {
                inner: raw for raw, inner in self._raw2inner_id_users.items()
            }
        try:
            return self._inner2raw_id_users[iuid]
        except KeyError:
            raise ValueError(str(iuid) + " is not a valid inner id.") from None

    def to_inner_iid(self, riid):
        """Convert a raw item id to an inner id; ``ValueError`` if unknown."""
        try:
            return self._raw2inner_id_items[riid]
        except KeyError:
            raise ValueError("Item " + str(riid) + " is not part of the trainset.") from None

    def to_raw_iid(self, iiid):
        """Convert an inner item id to the raw id; ``ValueError`` if invalid."""
        if self._inner2raw_id_items is None:
            self._inner2raw_id_items = {
                inner: raw for raw, inner in self._raw2inner_id_items.items()
            }
        try:
            return self._inner2raw_id_items[iiid]
        except KeyError:
            raise ValueError(str(iiid) + " is not a valid inner id.") from None

    def all_ratings(self):
        """Generate ``(u, i, r)`` with inner ids, grouped by user (the SGD order)."""
        if self._keep_dicts or self._ur is not None:
            for u, u_ratings in self.ur.items():
                for i, r in u_ratings:
                    yield u, i, r
            return
        u, i, r = self._by_user()
        yield from zip(u.tolist(), i.tolist(), r.tolist(), strict=True)

    def build_testset(self) -> list:
        """All ratings as a testset ``[(raw uid, raw iid, r), ...]`` in ``all_ratings`` order."""
        u, i, r = self._by_user()
        raw_u, raw_i = self._user_ids[u].tolist(), self._item_ids[i].tolist()
        return list(zip(raw_u, raw_i, r.tolist(), strict=True))

    def build_anti_testset(self, fill=None) -> list:
        """Every (user, item) pair not in the trainset, users then items in inner-id order.

        ``fill`` is the rating stored in each tuple (the global mean when None).
        """
        fill = self.global_mean if fill is None else float(fill)
        out = []
        raw_u = self._user_ids
        raw_i = self._item_ids
        perm, indptr = self._grouped(by_user=True)
        items_by_user = self._items[perm]
        chunk = max(1, (1 << 24) // max(self.n_items, 1))
        for start in range(0, self.n_users, chunk):
            stop = min(self.n_users, start + chunk)
            seen = np.zeros((stop - start, self.n_items), dtype=bool)
            lo, hi = indptr[start], indptr[stop]
            rows = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
            seen[rows, items_by_user[lo:hi]] = True
            uu, ii = np.nonzero(~seen)
            out += zip(raw_u[uu + start].tolist(), raw_i[ii].tolist(), repeat(fill))
        return out

    def all_users(self):
        """``range(n_users)``."""
        return range(self.n_users)

    def all_items(self):
        """``range(n_items)``."""
        return range(self.n_items)

    @property
    def global_mean(self):
        """Mean of all ratings (``numpy.float64``), summed in ``all_ratings`` order."""
        if self._global_mean is None:
            if self._keep_dicts:
                self._global_mean = np.mean([r for (_, _, r) in self.all_ratings()])
            elif _non_decreasing(self._users):
                # Already in all_ratings order: the same sum without an n-sized copy.
                self._global_mean = np.mean(self._ratings)
            else:
                perm, _ = self._grouped(by_user=True)
                self._global_mean = np.mean(self._ratings[perm])
        return self._global_mean

    # ------------------------------------------------------------ public array views
    # What the engine modules (training, top-N, neighbourhoods, Spark, model files) read
    # instead of this class's private fields. Every array returned is read-only.
    def rating_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ratings in storage order: ``(users, items, ratings)``.

        Returns
        -------
        users, items : numpy.ndarray of int32
            Inner user and item ids.
        ratings : numpy.ndarray of float64
        """
        return _readonly(self._users), _readonly(self._items), _readonly(self._ratings)

    def ratings_by_user(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ratings in ``all_ratings`` order (grouped by user): ``(users, items, ratings)``.

        The order Surprise's SGD visits them in; same types as ``rating_arrays``.
        """
        return tuple(_readonly(a) for a in self._by_user())

    def user_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ratings grouped by user, in ``ur`` / ``all_ratings`` order.

        Returns
        -------
        indptr : numpy.ndarray of int64, shape (n_users + 1,)
            User ``u``'s ratings are rows ``indptr[u]:indptr[u + 1]``.
        items : numpy.ndarray of int32
        ratings : numpy.ndarray of float64
        """
        perm, indptr = self._grouped(by_user=True)
        return _readonly(indptr), _readonly(self._items[perm]), _readonly(self._ratings[perm])

    def item_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ratings grouped by item, in ``ir`` order: ``(indptr, users, ratings)``."""
        perm, indptr = self._grouped(by_user=False)
        return _readonly(indptr), _readonly(self._users[perm]), _readonly(self._ratings[perm])

    @property
    def raw_user_ids(self) -> np.ndarray:
        """Raw user ids indexed by inner id (object array, read-only)."""
        return _readonly(self._user_ids)

    @property
    def raw_item_ids(self) -> np.ndarray:
        """Raw item ids indexed by inner id (object array, read-only)."""
        return _readonly(self._item_ids)

    def inner_uids(self, raw_ids) -> np.ndarray:
        """Inner ids (int32) of a sequence of raw user ids, -1 where unknown."""
        return self._inner_uids(raw_ids)

    def inner_iids(self, raw_ids) -> np.ndarray:
        """Inner ids (int32) of a sequence of raw item ids, -1 where unknown."""
        return self._inner_iids(raw_ids)

    def inner_pair(self, ruid, riid) -> tuple[int, int]:
        """Inner ids of one raw user and one raw item, -1 where unknown."""
        users, items = self._r2i_users, self._r2i_items
        if users is None or items is None:
            users, items = self._raw2inner_id_users, self._raw2inner_id_items
        return users.get(ruid, -1), items.get(riid, -1)

    def id_twin(self, raw_id, kind: str):
        """The known raw id that ``raw_id`` would be as ``str`` or ``int``, or None.

        ``'196'`` for the unknown ``196`` when the trainset holds the string ``'196'`` (ids
        read from a file), ``196`` for ``'196'`` when it holds integers (ids from pandas).

        Parameters
        ----------
        raw_id : hashable
            An id that is not part of the trainset.
        kind : {'user', 'item'}
        """
        known = self._raw2inner_id_users if kind == "user" else self._raw2inner_id_items
        twin = None
        if isinstance(raw_id, str):
            text = raw_id.strip()
            if text.lstrip("+-").isdigit() and text.isascii():
                twin = int(text)
        elif isinstance(raw_id, bool):
            return None
        elif isinstance(raw_id, numbers.Real) and float(raw_id).is_integer():
            twin = str(int(raw_id))
        return twin if twin is not None and twin in known else None

    def testset_inner_ids(self, testset: list) -> tuple[np.ndarray, np.ndarray]:
        """Inner ids (int32, -1 where unknown) of the user and item of each ``(uid, iid, r)``.

        ``testset`` is a list of triples (as ``build_testset`` or ``train_test_split``
        give); entries that do not unpack into three values raise as in Surprise.
        """
        return _objects.inner_ids(testset, self._raw2inner_id_users, self._raw2inner_id_items)

    def subset(self, rows) -> Trainset:
        """A trainset of some of these ratings, in the same id space.

        Parameters
        ----------
        rows : array of int
            Indices into ``rating_arrays()`` (storage order), in the order to keep.

        Returns
        -------
        Trainset
            The ratings at ``rows`` with this trainset's users, items, id maps (so inner ids
            agree: ``n_users`` and ``n_items`` are unchanged even if some users or items keep
            no rating) and ``global_mean``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= self.n_ratings)):
            raise ValueError(
                f"rows must be a 1-d array of indices below n_ratings={self.n_ratings}"
            )
        out = Trainset._from_arrays(
            self._users[rows],
            self._items[rows],
            self._ratings[rows],
            self._user_ids,
            self._item_ids,
            self.rating_scale,
        )
        out._global_mean = self.global_mean
        return out

    # ------------------------------------------------------------- in-place changes
    @property
    def revision(self) -> int:
        """How many in-place changes (``set_user_ratings``) this trainset has seen.

        Code that caches something derived from the ratings compares it.
        """
        return self._revision

    def copy(self, *, for_set_user_ratings: bool = False) -> Trainset:
        """An independent copy: arrays and id maps are copied, the global mean is kept.

        Raw ids themselves (hashable, treated as immutable) are shared. With
        ``for_set_user_ratings=True`` the copy is only independent under
        ``set_user_ratings`` (what fold-in does to it), which never writes into an existing
        array (it appends into fresh buffers or into spare rows that no other array views)
        nor into the item map: those are shared, and only the user map is copied, so the
        copy costs O(n_users) instead of O(n_ratings).
        """
        self.global_mean  # noqa: B018 - computed once, so the copy need not recompute it
        if self._keep_dicts:  # Surprise's dicts are the truth: copy them deeply
            return _copy.deepcopy(self)
        share = bool(for_set_user_ratings)
        out = Trainset.__new__(Trainset)
        arrays = (self._users, self._items, self._ratings, self._user_ids, self._item_ids)
        out._init_arrays(*(a if share else a.copy() for a in arrays), self.rating_scale)
        out.n_ratings = self.n_ratings
        out._global_mean = self._global_mean
        if self._r2i_users is not None:
            out._r2i_users = dict(self._r2i_users)
        if self._r2i_items is not None:
            out._r2i_items = self._r2i_items if share else dict(self._r2i_items)
        return out

    def set_user_ratings(self, raw_uids, indptr, items, ratings) -> np.ndarray:
        """Give some users exactly these ratings, in place (what fold-in records).

        A known user's ratings are replaced; a new user is appended to the id maps with the
        next inner id (in the order of ``raw_uids``). ``global_mean`` does not change: it
        stays the mean the model was trained with. Appending costs O(new ratings)
        amortised; replacing a known user's ratings costs O(n_ratings).

        Parameters
        ----------
        raw_uids : sequence of hashable
            Distinct raw user ids.
        indptr : array of int, shape (len(raw_uids) + 1,)
            User ``k``'s ratings are ``items[indptr[k]:indptr[k + 1]]`` and ``ratings[...]``.
        items : array of int
            Inner item ids (items must already be part of the trainset).
        ratings : array of float

        Returns
        -------
        numpy.ndarray of int32
            The inner id of every user of ``raw_uids``.
        """
        raw_uids = list(raw_uids)
        indptr = np.asarray(indptr, dtype=np.int64)
        items = np.ascontiguousarray(items, dtype=np.int32)
        ratings = np.ascontiguousarray(ratings, dtype=np.float64)
        if indptr.shape != (len(raw_uids) + 1,) or indptr[0] != 0 or (np.diff(indptr) < 0).any():
            raise ValueError(
                "indptr must start at 0, not decrease, and have one entry per user + 1"
            )
        if not len(items) == len(ratings) == indptr[-1]:
            raise ValueError("items and ratings must have indptr[-1] entries")
        if len(items) and (items.min() < 0 or items.max() >= self.n_items):
            raise ValueError("items must be inner ids of items of the trainset")
        if not np.isfinite(ratings).all():
            raise ValueError("ratings must be finite")
        self.global_mean  # noqa: B018 - fixed before the ratings change
        r2i = self._raw2inner_id_users
        inner = self._inner_uids(raw_uids)
        is_new = inner < 0
        n_new = int(is_new.sum())
        if n_new == len(raw_uids):  # all new (the usual fold-in): no per-id Python loop
            new_raw_list = raw_uids
        else:
            new_raw_list = [raw for raw, new in zip(raw_uids, is_new.tolist(), strict=True) if new]
        # Inner ids of the new users, in order; a repeated raw id collapses in the dict.
        fresh = dict(zip(new_raw_list, range(self.n_users, self.n_users + n_new)))
        if len(fresh) != n_new or len(set(inner[~is_new].tolist())) != len(raw_uids) - n_new:
            raise ValueError("raw_uids must be distinct")
        inner[is_new] = np.arange(self.n_users, self.n_users + n_new, dtype=np.int32)
        known = inner[~is_new]
        if len(known):
            keep = ~np.isin(self._users, known)
            self._users, self._items, self._ratings = (
                self._users[keep],
                self._items[keep],
                self._ratings[keep],
            )
        counts = np.diff(indptr)
        self._users = append_rows(self._users, np.repeat(inner, counts))
        self._items = append_rows(self._items, items)
        self._ratings = append_rows(self._ratings, ratings)
        new_raw = np.empty(n_new, dtype=object)
        new_raw[:] = new_raw_list
        if self._user_ids.dtype != object:  # numeric ids from a model file
            ids = np.empty(len(self._user_ids), dtype=object)
            ids[:] = self._user_ids.tolist()
            self._user_ids = ids
        self._user_ids = append_rows(self._user_ids, new_raw)
        r2i.update(fresh)
        if self._inner2raw_id_users is not None:
            self._inner2raw_id_users.update(zip(fresh.values(), fresh))
        self.n_users += n_new
        self.n_ratings = len(self._ratings)
        if self._keep_dicts:
            self._update_dicts(inner, indptr, items, ratings, set(known.tolist()))
        else:
            self._ur = self._ir = None
        self._revision += 1
        return inner

    def _update_dicts(self, inner, indptr, items, ratings, replaced: set) -> None:
        """Mirror ``set_user_ratings`` in Surprise's authoritative ``ur`` / ``ir`` dicts."""
        ur, ir = self._ur, self._ir
        touched_items = {i for u in replaced for i, _ in ur.get(u, ())}
        for i in touched_items:
            ir[i] = [(u, r) for u, r in ir[i] if u not in replaced]
        bounds = indptr.tolist()
        item_list, rating_list = items.tolist(), ratings.tolist()
        for k, u in enumerate(inner.tolist()):
            s, e = bounds[k], bounds[k + 1]
            ur[u] = list(zip(item_list[s:e], rating_list[s:e], strict=True))
            for i, r in ur[u]:
                ir[i].append((u, r))

    # ------------------------------------------------------------- internal helpers
    def _by_user(self):
        """``(users, items, ratings)`` arrays in ``all_ratings`` order."""
        perm, _ = self._grouped(by_user=True)
        return self._users[perm], self._items[perm], self._ratings[perm]

    def _inner_uids(self, raw_ids) -> np.ndarray:
        """Inner ids of raw user ids (-1 where unknown)."""
        get = self._raw2inner_id_users.get
        return np.fromiter(map(get, raw_ids, repeat(-1)), dtype=np.int32, count=len(raw_ids))

    def _inner_iids(self, raw_ids) -> np.ndarray:
        """Inner ids of raw item ids (-1 where unknown)."""
        get = self._raw2inner_id_items.get
        return np.fromiter(map(get, raw_ids, repeat(-1)), dtype=np.int32, count=len(raw_ids))
