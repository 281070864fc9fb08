"""Vector indexes (passages, messages): exact below a size threshold, HNSW above it.

One `VectorIndex` per (agent, embedding model) holds that agent's vectors in memory, so a
search never re-reads the blobs from the database:

* Below `VectorIndexConfig.exact_limit` vectors everything sits in a numpy matrix and a
  search is one exact matrix-vector product.
* From `exact_limit` on, a background thread builds an HNSW graph (faiss `IndexHNSWFlat`,
  inner product). Vectors added afterwards land in a small exact "delta" matrix that every
  search scans as well, and are merged into the graph in batches of `merge_batch`, so an
  insert never waits for the graph and a search never misses a fresh passage. Until the graph
  is ready, searches stay exact.
* The graph is saved under the data directory (`<dir>/<agent>.<model>-<hash>.faiss` plus a `.npz`
  with the passage keys, deletion marks and the database watermark it covers), so a restart
  loads it instead of rebuilding. `StoredVectors` compares the saved state with the
  database when it loads one (count of rows up to the watermark; new rows past it) and catches
  up incrementally.
* Deletes mark the entry dead (faiss cannot delete from HNSW; dead entries are filtered during
  the graph search); once a quarter of the graph is dead it is rebuilt from the live vectors.
  Every result is also checked against the database before it is returned, so rows deleted
  behind the index's back (another process, an agent's cascade delete) never come back.

Entries are keyed by the passage table's integer primary key (`pk`); graph labels are dense
internal positions mapped to pks, so a reused pk is simply a new entry.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memgpt.storage.rwlock import RWLock

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]
Keys = npt.NDArray[np.int64]

FORMAT_VERSION = 1


_FAISS: Any = None


def load_faiss() -> Any | None:
    """The faiss module, or None when it is not installed (then every search is exact)."""
    global _FAISS
    if _FAISS is None:
        try:
            _FAISS = importlib.import_module("faiss")
        except ImportError:  # pragma: no cover - depends on the environment
            _FAISS = False
    return _FAISS or None


@dataclass(frozen=True)
class VectorIndexConfig:
    """Tuning of the archival vector indexes (defaults measured on 2 cores, 384-d vectors)."""

    exact_limit: int = 20_000
    """Vectors an index holds before it builds an HNSW graph; below it searches are exact."""
    merge_batch: int = 2_000
    """Vectors waiting in the exact delta that trigger a merge into the graph."""
    hnsw_m: int = 32
    """HNSW out-degree (faiss M); more costs memory and build time, gains recall."""
    ef_construction: int = 80
    """HNSW build beam width."""
    ef_search: int = 160
    """HNSW search beam width (at least k is used)."""
    rebuild_dead_fraction: float = 0.25
    """Rebuild the graph once this fraction of its entries has been deleted."""
    save_fraction: float = 0.05
    """Save the graph again once this fraction of it was merged since the last save."""
    directory: Path | None = None
    """Where graphs are saved; None derives `<sqlite dir>/vectors` from the database URL."""
    persist: bool = True
    """Save graphs to disk (only happens for indexes that have one)."""
    background: bool = True
    """Build and merge graphs in a background thread (False: inline, for tests)."""


def _top(sims: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the k largest values, largest first."""
    if k >= len(sims):
        return np.argsort(-sims, kind="stable")
    part = np.argpartition(-sims, k)[:k]
    return part[np.argsort(-sims[part], kind="stable")]


class VectorIndex:
    """The vectors of one agent under one embedding model; every method is thread-safe.

    Labels 0..n-1 are insertion positions; `_pks[label]` is the passage pk. Labels below
    `_main_n` live in the HNSW graph `_main`; the rest in the exact matrix `_delta`
    (row = label - _main_n).
    """

    def __init__(self, config: VectorIndexConfig, path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self.dim = 0
        self._lock = threading.RLock()  # guards the fields below (held briefly)
        self._graph = RWLock()  # searches read the graph, merges write it
        self._pks: Keys = np.zeros(0, np.int64)
        self._alive = np.zeros(0, np.bool_)
        self._n = 0
        self._live = 0
        self._max_pk = 0
        self._ascending = True
        self._order: npt.NDArray[np.intp] | None = None
        self._main: Any = None
        self._main_n = 0
        self._main_dead = 0
        self._main_synced = 0
        self._bitmap: npt.NDArray[np.uint8] | None = None
        self._delta: Matrix = np.zeros((0, 0), np.float32)
        self._unsaved = 0
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self.synced = 0
        """Database watermark: every row of this key with pk <= synced is in the index."""
        self.loaded = False
        self.sync_lock = threading.Lock()

    # --- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._live

    @property
    def max_pk(self) -> int:
        """The largest pk ever added (0 when empty)."""
        return self._max_pk

    @property
    def has_graph(self) -> bool:
        """Whether searches use an HNSW graph (else they are exact)."""
        return self._main is not None

    def exact_rows(self) -> int:
        """Rows a search scans exactly (all of them until a graph exists)."""
        return self._n - self._main_n

    def stats(self) -> dict[str, int]:
        """Sizes, for benchmarks and logs."""
        with self._lock:
            return {
                "live": self._live,
                "entries": self._n,
                "graph": self._main_n,
                "graph_dead": self._main_dead,
                "delta": self._n - self._main_n,
            }

    def _reserve(self, extra: int) -> None:
        """Room for `extra` more labels (amortised doubling)."""
        need = self._n + extra
        if need > len(self._pks):
            cap = max(need, 2 * len(self._pks), 1024)
            pks = np.zeros(cap, np.int64)
            pks[: self._n] = self._pks[: self._n]
            alive = np.zeros(cap, np.bool_)
            alive[: self._n] = self._alive[: self._n]
            self._pks, self._alive = pks, alive
        rows = need - self._main_n
        if rows > len(self._delta):
            cap = max(rows, 2 * len(self._delta), 1024)
            delta = np.zeros((cap, self.dim), np.float32)
            used = self._n - self._main_n
            delta[:used] = self._delta[:used]
            self._delta = delta

    def reserve(self, extra: int, dim: int) -> None:
        """Pre-size for `extra` more vectors of `dim` (avoids copies on a big initial load)."""
        with self._lock:
            if not self.dim:
                self.dim = dim
                self._delta = np.zeros((0, dim), np.float32)
            if dim == self.dim:
                self._reserve(extra)

    def _labels_of(self, pks: Keys) -> npt.NDArray[np.intp]:
        """The newest label of each pk, or -1 when it has none."""
        n = self._n
        if n == 0 or len(pks) == 0:
            return np.full(len(pks), -1, np.intp)
        keys = self._pks[:n]
        if self._ascending:
            order = None
            sorted_keys = keys
        else:
            if self._order is None or len(self._order) != n:
                self._order = np.argsort(keys, kind="stable")
            order = self._order
            sorted_keys = keys[order]
        pos = np.searchsorted(sorted_keys, pks, side="right") - 1
        ok = (pos >= 0) & (sorted_keys[np.maximum(pos, 0)] == pks)
        labels = pos if order is None else order[np.maximum(pos, 0)]
        return np.where(ok, labels, -1).astype(np.intp)

    def _is_live(self, labels: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        live = labels >= 0
        live[live] = self._alive[labels[live]]
        return live

    def contains(self, pks: Sequence[int] | Keys) -> npt.NDArray[np.bool_]:
        """Whether each pk is a live entry."""
        with self._lock:
            return self._is_live(self._labels_of(np.asarray(pks, np.int64)))

    def live_pks(self, upto: int | None = None) -> Keys:
        """Pks of the live entries (with pk <= upto, if given)."""
        with self._lock:
            pks = self._pks[: self._n][self._alive[: self._n]]
        return pks if upto is None else pks[pks <= upto]

    def add(self, pks: Sequence[int] | Keys, vectors: Matrix) -> int:
        """Add vectors under their pks, skipping pks already live; returns how many were new."""
        keys = np.asarray(pks, np.int64)
        vecs = np.asarray(vectors, np.float32)
        if len(keys) == 0:
            return 0
        if vecs.ndim != 2 or len(vecs) != len(keys):
            raise ValueError("add() needs one vector per pk")
        with self._lock:
            if not self.dim:
                self.dim = int(vecs.shape[1])
                self._delta = np.zeros((0, self.dim), np.float32)
            if vecs.shape[1] != self.dim:
                raise ValueError(f"vector dimension {vecs.shape[1]} != index dimension {self.dim}")
            labels = self._labels_of(keys)
            fresh = ~self._is_live(labels)
            _, first = np.unique(keys, return_index=True)  # duplicates within the batch
            once = np.zeros(len(keys), np.bool_)
            once[first] = True
            fresh &= once
            keys, vecs = keys[fresh], vecs[fresh]
            m = len(keys)
            if not m:
                return 0
            self._reserve(m)
            start, row = self._n, self._n - self._main_n
            self._pks[start : start + m] = keys
            self._alive[start : start + m] = True
            self._delta[row : row + m] = vecs
            if self._ascending and (keys[0] <= self._max_pk or np.any(np.diff(keys) <= 0)):
                self._ascending = False
            self._order = None
            self._n += m
            self._live += m
            self._max_pk = max(self._max_pk, int(keys.max()))
            return m

    def discard(self, pks: Sequence[int] | Keys) -> int:
        """Mark entries dead; returns how many were live."""
        keys = np.asarray(pks, np.int64)
        with self._lock:
            labels = self._labels_of(keys)
            labels = np.unique(labels[labels >= 0])
            labels = labels[self._alive[labels]]
            if not len(labels):
                return 0
            self._alive[labels] = False
            self._live -= len(labels)
            in_main = int(np.count_nonzero(labels < self._main_n))
            if in_main:
                self._main_dead += in_main
                self._bitmap = None
            return len(labels)

    # --- search ----------------------------------------------------------------------------

    def search(self, vector: Matrix, k: int) -> list[tuple[int, float]]:
        """Up to k (pk, inner product) of the live entries most similar to vector."""
        query = np.asarray(vector, np.float32).reshape(-1)
        if k <= 0:
            return []
        with self._lock:
            if not self._live:
                return []
            if len(query) != self.dim:
                raise ValueError(f"query dimension {len(query)} != index dimension {self.dim}")
            n, main_n, main = self._n, self._main_n, self._main
            pks, alive = self._pks, self._alive
            delta = self._delta[: n - main_n]
            bitmap = self._main_bitmap() if main is not None and self._main_dead else None
        found: list[tuple[float, int]] = []
        if len(delta):
            # einsum: single-threaded SIMD; OpenBLAS gemv threads cost more than they save here
            sims = np.einsum("ij,j->i", delta, query)
            live = alive[main_n:n]
            if not live.all():
                sims = np.where(live, sims, -np.inf).astype(np.float32)
            for i in _top(sims, k):
                if np.isfinite(sims[i]):
                    found.append((float(sims[i]), main_n + int(i)))
        if main is not None:
            found.extend(self._search_graph(main, main_n, bitmap, query, k))
        found.sort(key=lambda t: -t[0])
        out: list[tuple[int, float]] = []
        for sim, label in found:
            if alive[label]:
                out.append((int(pks[label]), sim))
            if len(out) == k:
                break
        return out

    def _main_bitmap(self) -> npt.NDArray[np.uint8]:
        """Packed live bits of the graph's labels (faiss IDSelectorBitmap layout)."""
        if self._bitmap is None:
            self._bitmap = np.packbits(self._alive[: self._main_n], bitorder="little")
        return self._bitmap

    def _search_graph(
        self, main: Any, main_n: int, bitmap: npt.NDArray[np.uint8] | None, query: Matrix, k: int
    ) -> list[tuple[float, int]]:
        faiss = load_faiss()
        assert faiss is not None
        kk = min(k, main_n)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.config.ef_search, kk)
        selector = None
        if bitmap is not None:
            selector = faiss.IDSelectorBitmap(bitmap)
            params.sel = selector
        with self._graph.read():
            sims, labels = main.search(query[None, :], kk, params=params)
        del selector
        return [
            (float(s), int(lab))
            for s, lab in zip(sims[0], labels[0], strict=True)
            if 0 <= lab < main_n
        ]

    # --- graph building --------------------------------------------------------------------

    def _wants_graph(self) -> str | None:
        """What the background worker should do next: 'build', 'merge' or nothing."""
        job: str | None = None
        if self._main is None:
            job = "build" if self._live and self._live >= self.config.exact_limit else None
        elif self._main_dead > self.config.rebuild_dead_fraction * max(self._main_n, 1):
            job = "build"
        elif self._n - self._main_n >= self.config.merge_batch:
            job = "merge"
        return job if job is not None and load_faiss() is not None else None

    def maybe_build(self) -> None:
        """Build, merge or rebuild the graph if due: in the background, or inline if so configured."""
        with self._lock:
            if self._wants_graph() is None:
                return
            if self._worker is not None and self._worker.is_alive():
                return
            if not self.config.background:
                self._worker = None
            else:
                self._worker = threading.Thread(
                    target=self._work, name="memgpt-vector-index", daemon=True
                )
                self._worker.start()
                return
        self._work()

    def wait(self) -> None:
        """Block until background work is done (re-raising its failure, if any)."""
        while True:
            with self._lock:
                worker = self._worker
            if worker is None or not worker.is_alive():
                break
            worker.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        try:
            while True:
                with self._lock:
                    job = self._wants_graph()
                if job is None:
                    break
                if job == "build":
                    self._build()
                else:
                    self._merge()
                self._maybe_save()
        except BaseException as exc:  # noqa: BLE001 - kept for wait(), searches stay exact
            log.exception("vector index build failed")
            self._error = exc

    def _new_graph(self) -> Any:
        faiss = load_faiss()
        assert faiss is not None
        graph = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.config.ef_construction
        graph.hnsw.efSearch = self.config.ef_search
        return graph

    def _build(self) -> None:
        """(Re)build the graph from every live entry, off-lock, then swap it in."""
        with self._lock:
            n0, main_n0, main = self._n, self._main_n, self._main
            keep = np.flatnonzero(self._alive[:n0])
            delta = self._delta[: n0 - main_n0]
            synced0 = self.synced
        graph = self._new_graph()
        step = 8_192
        for s in range(0, len(keep), step):
            labels = keep[s : s + step]
            if main is not None:
                in_main = labels[labels < main_n0]
                parts = [main.reconstruct_batch(in_main)] if len(in_main) else []
                in_delta = labels[labels >= main_n0] - main_n0
                if len(in_delta):
                    parts.append(delta[in_delta])
                chunk = np.vstack(parts).astype(np.float32)
            else:
                chunk = delta[labels - main_n0]
            graph.add(np.ascontiguousarray(chunk))
        with self._graph.write(), self._lock:
            tail = np.arange(n0, self._n)
            new_n = len(keep) + len(tail)
            pks = np.zeros(max(new_n, 1024), np.int64)
            alive = np.zeros(len(pks), np.bool_)
            pks[: len(keep)] = self._pks[keep]
            alive[: len(keep)] = self._alive[keep]  # deletes made during the build count
            pks[len(keep) : new_n] = self._pks[tail]
            alive[len(keep) : new_n] = self._alive[tail]
            rows = self._delta[n0 - self._main_n : self._n - self._main_n]
            self._delta = np.zeros((max(len(rows), 1024), self.dim), np.float32)
            self._delta[: len(rows)] = rows
            self._pks, self._alive = pks, alive
            self._n, self._main_n, self._main = new_n, len(keep), graph
            self._main_dead = int(len(keep) - np.count_nonzero(alive[: len(keep)]))
            self._main_synced = synced0
            self._bitmap = None
            self._order = None
            self._ascending = bool(np.all(np.diff(pks[:new_n]) > 0))
            self._unsaved = len(keep)

    def _merge(self) -> None:
        """Move the delta's rows into the graph, in chunks so searches wait little."""
        with self._lock:
            n0, main_n0 = self._n, self._main_n
            rows = self._delta[: n0 - main_n0]
            synced0 = self.synced
            main = self._main
        step = 1_024
        for s in range(0, len(rows), step):
            with self._graph.write():
                main.add(np.ascontiguousarray(rows[s : s + step]))
        with self._graph.write(), self._lock:
            moved = n0 - main_n0
            rest = self._delta[moved : self._n - main_n0]
            self._delta = np.zeros((max(len(rest), 1024), self.dim), np.float32)
            self._delta[: len(rest)] = rest
            self._main_dead += int(moved - np.count_nonzero(self._alive[main_n0:n0]))
            self._main_n = n0
            self._main_synced = synced0
            self._bitmap = None
            self._unsaved += moved

    # --- persistence -----------------------------------------------------------------------

    def _maybe_save(self) -> None:
        if self.path is None or not self.config.persist or self._main is None:
            return
        with self._lock:
            due = self._unsaved >= max(self.config.merge_batch, self.config.save_fraction * self._main_n)
        if due:
            self.save()

    def save(self) -> None:
        """Write the graph, its keys, deletion marks and watermark (atomically, by rename)."""
        faiss = load_faiss()
        if self.path is None or self._main is None or faiss is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        graph_file, keys_file = self._files()
        with self._graph.read():  # no merge while the graph is written
            with self._lock:
                main, main_n = self._main, self._main_n
                pks = self._pks[:main_n].copy()
                alive = self._alive[:main_n].copy()
                meta = {
                    "version": FORMAT_VERSION,
                    "dim": self.dim,
                    "entries": main_n,
                    "synced": self._main_synced,
                    "hnsw_m": self.config.hnsw_m,
                }
                self._unsaved = 0
            tmp = Path(f"{graph_file}.tmp")
            faiss.write_index(main, str(tmp))
        tmp_keys = Path(f"{self.path}.tmp.npz")
        np.savez(tmp_keys, pks=pks, alive=alive, meta=np.array(json.dumps(meta)))
        os.replace(tmp, graph_file)
        os.replace(tmp_keys, keys_file)

    def _files(self) -> tuple[Path, Path]:
        assert self.path is not None
        return Path(f"{self.path}.faiss"), Path(f"{self.path}.npz")

    def load(self) -> bool:
        """Load a saved graph if there is a valid one; returns whether it did."""
        faiss = load_faiss()
        if self.path is None or not self.config.persist or faiss is None:
            return False
        graph_file, keys_file = self._files()
        if not (graph_file.exists() and keys_file.exists()):
            return False
        try:
            with np.load(keys_file) as z:
                pks = np.asarray(z["pks"], np.int64)
                alive = np.asarray(z["alive"], np.bool_)
                meta = json.loads(str(z["meta"]))
            graph = faiss.read_index(str(graph_file))
            ok = (
                meta.get("version") == FORMAT_VERSION
                and graph.ntotal == len(pks) == len(alive) == meta.get("entries")
                and graph.d == meta.get("dim")
            )
        except Exception:  # noqa: BLE001 - a corrupt file is rebuilt
            log.warning("unreadable vector index %s; rebuilding", graph_file, exc_info=True)
            ok = False
        if not ok:
            self.remove_files()
            return False
        with self._graph.write(), self._lock:
            self.dim = int(meta["dim"])
            n = len(pks)
            self._pks = np.zeros(max(n, 1024), np.int64)
            self._pks[:n] = pks
            self._alive = np.zeros(len(self._pks), np.bool_)
            self._alive[:n] = alive
            self._n = self._main_n = n
            self._live = int(np.count_nonzero(alive))
            self._main_dead = n - self._live
            self._main = graph
            self._max_pk = int(pks.max()) if n else 0
            self._ascending = bool(np.all(np.diff(pks) > 0))
            self._order = None
            self._bitmap = None
            self._delta = np.zeros((1024, self.dim), np.float32)
            self._main_synced = self.synced = int(meta["synced"])
            self._unsaved = 0
        return True

    def remove_files(self) -> None:
        """Delete the saved graph (if any)."""
        if self.path is None:
            return
        for f in self._files():
            f.unlink(missing_ok=True)
