"""`RecsysClient`: the signatures of a recsys_tf export as Python methods, over any transport.

Subclasses implement one method, `_predict(signature, inputs) -> outputs` (dicts of numpy arrays);
this class builds the inputs each signature expects (names, dtypes, "" padding) and checks every
request against the export's limits (`limits`: `max_batch`, `max_k`, `max_exclude`,
`max_request_ids`, recorded in the export's `recsys_tf_export.json`) before sending it: a request over
a limit is refused with the limit, the value and the fix, or split where that gives the same answer
(`score` over more candidates than one request takes). Nothing the caller gave is cut.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.errors import InputError, RecsysError


class ServingError(RecsysError, RuntimeError):
    """A request failed; the message names the endpoint, the model and what to do."""


DEFAULT_LIMITS = {"max_batch": 1024, "max_k": 100, "max_exclude": 64, "max_request_ids": 1000}
"""An export's limits at `recsys-tf export`'s defaults (`ServingGraph.limits`), used until the client
is given the export's own (`limits=` or `read_limits`)."""


def read_limits(export_dir) -> dict:
    """The limits recorded in an export version directory (`assets.extra/recsys_tf_export.json`);
    exports written before limits were recorded give their `max_k` and the defaults."""
    path = Path(export_dir) / "assets.extra" / "recsys_tf_export.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the export's limits from {path}: {err}. Fix: pass an export version "
                         "directory (ROOT/NAME/VERSION) written by `recsys-tf export`.") from None
    return DEFAULT_LIMITS | ({"max_k": info["max_k"]} if "max_k" in info else {}) | dict(info.get("limits", {}))


def _string_matrix(rows) -> np.ndarray:
    rows = [[str(x) for x in (r or [])] for r in rows]
    width = max([len(r) for r in rows] + [1])
    return np.array([r + [""] * (width - len(r)) for r in rows], dtype=object).reshape(len(rows), width)


def wire_value(value, text: bool = False):
    """An input array as a client sends it: an object array of strings and/or UTF-8 bytes becomes str
    (`text`, for JSON) or stays str/bytes (gRPC: `make_tensor_proto` encodes str as UTF-8 and passes
    bytes unchanged). Other arrays unchanged. (`astype(str)` would decode bytes as ASCII.)"""
    value = np.asarray(value)
    if value.dtype != object:
        return value
    def convert(v):
        if isinstance(v, bytes):
            return v.decode("utf-8") if text else v
        return v if isinstance(v, str) else str(v)
    return np.vectorize(convert, otypes=[object])(value) if value.size else value.astype(str)


def checked_retries(retries) -> int:
    """`retries` as a count of extra attempts, refused when negative."""
    if int(retries) < 0:
        raise ValueError(f"`retries` is the number of extra attempts and must be >= 0. Received: retries={retries}. "
                         "Fix: pass 0 for no retry.")
    return int(retries)


class RecsysClient:
    def __init__(self, endpoint: str, model: str, limits: dict | None = None):
        self.endpoint, self.model = endpoint, model
        self.limits = DEFAULT_LIMITS | dict(limits or {})

    @property
    def max_batch(self) -> int:
        return int(self.limits["max_batch"])

    @property
    def max_k(self) -> int:
        return int(self.limits["max_k"])

    def _ids(self, name: str, rows, cap_key: str = "max_request_ids") -> np.ndarray:
        """`rows` as a "" padded string matrix, refused when a row holds more ids than `limits[cap_key]`."""
        cap = int(self.limits[cap_key])
        for number, row in enumerate(rows):
            if row is not None and len(row) > cap:
                raise InputError(f"`{name}` row {number} holds {len(row)} ids; this export takes at most {cap_key}="
                                 f"{cap}. Fix: " + ("exclude fewer ids (or export with a larger max_exclude)."
                                                    if cap_key == "max_exclude" else
                                                    f"send the newest {cap} ids."))
        return _string_matrix(rows)

    # --- transport ------------------------------------------------------------------------------
    def _predict(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def predict(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sizes = {np.asarray(v).shape[0] for v in inputs.values() if np.asarray(v).ndim}
        if sizes and max(sizes) > self.max_batch:
            raise InputError(f"batch of {max(sizes)} rows exceeds max_batch={self.max_batch}. Fix: send smaller batches.")
        return self._predict(signature, inputs)

    def _k(self, k: int, n: int) -> np.ndarray:
        if not isinstance(k, int | np.integer) or not 1 <= k <= self.max_k:
            raise InputError(f"`k` must be an integer in [1, max_k={self.max_k}] (this export's limit). Received: "
                             f"k={k!r}. Fix: ask for between 1 and {self.max_k} results, or export with a larger "
                             "--max-k.")
        return np.full(n, k, np.int32)

    @staticmethod
    def _diversity(n: int, mmr_lambda, max_per_category) -> dict[str, np.ndarray]:
        """Inputs of the *_diverse signatures, or {} when diversification is off (the default)."""
        if mmr_lambda is None and not max_per_category:
            return {}
        lam = 1.0 if mmr_lambda is None else float(mmr_lambda)
        if not 0.0 <= lam <= 1.0:
            raise InputError(f"`mmr_lambda` must be in [0, 1] (1 = relevance only). Received: {mmr_lambda!r}.")
        cap = int(max_per_category or 0)
        if cap < 0:
            raise InputError(f"`max_per_category` must be >= 0 (0 = no cap). Received: {max_per_category!r}.")
        return {"mmr_lambda": np.full(n, lam, np.float32), "max_per_category": np.full(n, cap, np.int32)}

    # --- signatures -----------------------------------------------------------------------------
    def search(self, queries: list[str] | str, k: int = 10, mmr_lambda: float | None = None,
               max_per_category: int | None = None) -> list[list[tuple[str, float]]]:
        """Top-k items per query. `mmr_lambda` (< 1: trade relevance for variety, maximal marginal
        relevance) and `max_per_category` (cap per catalog category) use `search_diverse`."""
        queries = [queries] if isinstance(queries, str) else list(queries)
        diverse = self._diversity(len(queries), mmr_lambda, max_per_category)
        out = self.predict("search_diverse" if diverse else "search",
                           {"query": np.array(queries, object), "k": self._k(k, len(queries)), **diverse})
        return _pairs(out)

    @staticmethod
    def _context(n: int, hour, weekday, device) -> dict[str, np.ndarray]:
        """Inputs of `recommend_in_context`, or {} when no context is given (the server clock decides).
        Each of hour / weekday / device is one value for every row or a list of n (None = clock/unknown)."""
        if hour is None and weekday is None and device is None:
            return {}

        def column(name, value, low, high):
            values = [value] * n if value is None or isinstance(value, int | np.integer) else list(value)
            if len(values) != n:
                raise InputError(f"`{name}` needs one value per user ({n}). Received {len(values)} values.")
            for v in values:
                if v is not None and not (isinstance(v, int | np.integer) and low <= v <= high):
                    raise InputError(f"`{name}` must be an integer in [{low}, {high}] or None (server clock). "
                                     f"Received: {name}={v!r}.")
            return np.array([-1 if v is None else int(v) for v in values], np.int32)

        devices = [device] * n if device is None or isinstance(device, str) else list(device)
        if len(devices) != n:
            raise InputError(f"`device` needs one value per user ({n}). Received {len(devices)} values.")
        return {"hour": column("hour", hour, 0, 23), "weekday": column("weekday", weekday, 0, 6),
                "device": np.array(["" if d is None else str(d) for d in devices], object)}

    def recommend(self, user_ids: list[str] | str, histories=None, exclude=None, k: int = 10,
                  mmr_lambda: float | None = None, max_per_category: int | None = None,
                  hour=None, weekday=None, device=None, include_history: bool = False):
        """Top-k items per user with the history item that explains each (`because`). `hour` (0-23),
        `weekday` (0 = Monday) and `device` (a device name of the training data) set the request's
        context (`recommend_in_context`); without them the server clock gives hour and weekday.
        `include_history=True` ("buy it again") lets the user's history items be recommended too,
        scored with the model's repeat offset (also through `recommend_in_context`)."""
        user_ids = [user_ids] if isinstance(user_ids, str) else list(user_ids)
        n = len(user_ids)
        histories, exclude = _per_user("histories", histories, n), _per_user("exclude", exclude, n)
        diverse = self._diversity(n, mmr_lambda, max_per_category)
        if not isinstance(include_history, bool | np.bool_):
            raise InputError(f"`include_history` must be True or False. Received: include_history={include_history!r}.")
        context = self._context(n, hour, weekday, device)
        if include_history and not context:
            context = self._context(n, [None] * n, [None] * n, [None] * n)
        if context:
            signature = "recommend_in_context"
            diverse = diverse or {"mmr_lambda": np.ones(n, np.float32), "max_per_category": np.zeros(n, np.int32)}
            context["include_history"] = np.full(n, bool(include_history))
        else:
            signature = "recommend_diverse" if diverse else "recommend"
        out = self.predict(signature, {"user_id": np.array(user_ids, object),
                                       "history_item_ids": self._ids("histories", histories),
                                       "exclude_item_ids": self._ids("exclude", exclude, "max_exclude"),
                                       "k": self._k(k, n), **diverse, **context})
        because = np.asarray(out["because_item_ids"]).astype(str)
        return [[(i, s, b) for (i, s), b in zip(row, brow)] for row, brow in zip(_pairs(out), because)]

    def similar_items(self, item_ids: list[str] | str, k: int = 10):
        item_ids = [item_ids] if isinstance(item_ids, str) else list(item_ids)
        return _pairs(self.predict("similar_items", {"item_id": np.array(item_ids, object), "k": self._k(k, len(item_ids))}))

    def score(self, user_id: str, history, candidate_item_ids) -> dict[str, np.ndarray]:
        """Every head's score `(1, C)` of each candidate, in the order given; more candidates than one
        request takes (`max_request_ids`) are scored in several requests (each pair is scored on its
        own, so the answer is the same)."""
        candidate_item_ids = list(candidate_item_ids)
        step = int(self.limits["max_request_ids"])
        history = self._ids("history", [history])
        parts = [self.predict("score", {"user_id": np.array([user_id], object), "history_item_ids": history,
                                        "candidate_item_ids": _string_matrix([candidate_item_ids[i:i + step]])})
                 for i in range(0, max(len(candidate_item_ids), 1), step)]
        return {key: np.concatenate([np.asarray(part[key]) for part in parts], axis=1) for key in parts[0]}

    @staticmethod
    def join_catalog(results, items: pd.DataFrame) -> pd.DataFrame:
        """Results of one query (list of (item_id, score[, because])) joined with the catalog."""
        columns = ["item_id", "score", "because_item_id"][: len(results[0])] if results else ["item_id", "score"]
        frame = pd.DataFrame(results, columns=columns)
        return frame.merge(items, on="item_id", how="left")


def _per_user(name: str, rows, n: int) -> list:
    """One id list per user: None -> empty lists; for a single user a flat list is that user's list."""
    if rows is None:
        return [[] for _ in range(n)]
    rows = list(rows)
    if n == 1 and (not rows or not isinstance(rows[0], list | tuple | np.ndarray)):
        rows = [rows]
    if len(rows) != n:
        raise InputError(f"`{name}` needs one list of item ids per user ({n}). Received {len(rows)} lists.")
    return rows


def _pairs(out) -> list[list[tuple[str, float]]]:
    ids = np.asarray(out["item_ids"]).astype(str)
    scores = np.asarray(out["scores"], dtype=float)
    return [[(i, float(s)) for i, s in zip(row_i, row_s) if i] for row_i, row_s in zip(ids, scores)]


def make_client(endpoint: str, model: str, **kwargs) -> RecsysClient:
    """`grpc://host:8500`, `http://host:8501` or `file://EXPORT_DIR/NAME/VERSION` (local SavedModel)."""
    if endpoint.startswith("grpc://"):
        from recsys_tf.serving.grpc_client import GrpcClient

        return GrpcClient(endpoint[len("grpc://"):], model, **kwargs)
    if endpoint.startswith(("http://", "https://")):
        from recsys_tf.serving.rest_client import RestClient

        return RestClient(endpoint, model, **kwargs)
    if endpoint.startswith("file://"):
        from recsys_tf.serving.local_client import LocalClient

        return LocalClient(endpoint[len("file://"):], model)
    raise InputError(f"`--endpoint` must start with grpc://, http://, https:// or file://. Received: {endpoint!r}. "
                     "Fix: e.g. --endpoint grpc://localhost:8500")
