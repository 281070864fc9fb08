"""Recall full text over 3-turn windows, stemmed (migration 0017, SQLite): a turn is found by
the words of the turns around it, and by other forms of its words."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from memgpt import AgentService, Message
from memgpt.memory import recall
from memgpt.storage.sql_recall import _WINDOW_MATCH, SqlRecallStore


async def _agent_with(service: AgentService, texts: list[str]) -> tuple[str, list[Message]]:
    agent_id = (await service.create_agent("windows", model="scripted")).id
    stored = await service.stores.recall.append(agent_id, [Message.user(t) for t in texts])
    await recall.embed_pending(service.stores.recall, service.embedder, agent_id)  # indexes windows
    return agent_id, stored


async def _matches(service: AgentService, agent_id: str, query: str) -> tuple[
        list[tuple[str, float, bool]], dict[str, float], dict[str, tuple[int, datetime]]]:
    """The window query's (id, turn score, exact) matches, window scores and positions."""
    store = service.stores.recall
    assert isinstance(store, SqlRecallStore)
    found, windows, placed = await store.lexical_windows(agent_id, query, start=None, end=None, limit=50)
    assert windows is not None and placed is not None
    return found, windows, placed


async def _words(service: AgentService, agent_id: str, query: str) -> tuple[list[str], dict[str, float]]:
    found, windows, _ = await _matches(service, agent_id, query)
    return [i for i, _, _ in found], windows


async def test_a_word_only_a_neighbour_has_finds_the_turn(service: AgentService) -> None:
    """ "Lisbon, for a new job" answers "where did you relocate?" only with the question beside it."""
    agent_id, (question, answer, _later) = await _agent_with(
        service, ["Where did you relocate last spring?", "Lisbon, for a new job", "The weather is nice"])
    found, windows = await _words(service, agent_id, "relocate")
    assert found == [question.id, answer.id]  # the turn with the word first; the third is two away
    assert windows[answer.id] > 0
    page = await service.search_messages(agent_id, "relocate")
    assert [m.id for m in page.items][:2] == [question.id, answer.id]


async def test_stemming_running_finds_runs(service: AgentService) -> None:
    """The Porter stemmer: query and text meet on their stems, scored on the turn itself."""
    agent_id, (runs, other, _) = await _agent_with(
        service, ["She runs every morning", "bread and cheese", "cats sleep a lot"])
    found, _, _ = await _matches(service, agent_id, "running")
    assert found[0][0] == runs.id and found[0][1] > 0  # its own turn matches, not just the window
    assert other.id in {i for i, _, _ in found}  # the neighbour, through its window only
    assert [i for i, score, _ in found if score > 0] == [runs.id]


async def test_a_new_turn_reindexes_its_predecessor_window(service: AgentService) -> None:
    """The predecessor's window gains the new turn's words once the new turn is embedded."""
    agent_id, (first,) = await _agent_with(service, ["What is your cat called?"])
    assert await _words(service, agent_id, "Quill") == ([], {})
    await service.stores.recall.append(agent_id, [Message.user("Quill, after a feather pen")])
    page = await service.search_messages(agent_id, "quill")  # the search embeds what is pending
    assert first.id in {m.id for m in page.items}
    found, windows = await _words(service, agent_id, "quill")
    assert found[1] == first.id and windows[first.id] > 0


async def test_exact_phrase_stays_unstemmed_and_first(service: AgentService) -> None:
    """Exact phrases are decided by the unstemmed index: "running late" is not "runs late"."""
    agent_id, (stemmed, exact, _) = await _agent_with(
        service, ["he runs late", "running late again", "something else entirely"])
    found, _, _ = await _matches(service, agent_id, "running late")
    assert [(i, is_exact) for i, _, is_exact in found[:2]] == [(exact.id, True), (stemmed.id, False)]


async def test_threads_and_deletes(service: AgentService) -> None:
    """Deleting an agent drops its windows; an agent's windows never take another's words."""
    one, _ = await _agent_with(service, ["alpha words here"])
    two = (await service.create_agent("other", model="scripted")).id
    await service.stores.recall.append(two, [Message.user("beta words there")])
    await recall.embed_pending(service.stores.recall, service.embedder, two)
    assert (await _words(service, one, "beta"))[0] == []
    await service.delete_agent(two)
    store = service.stores.recall
    assert isinstance(store, SqlRecallStore)
    async with store.sessions() as s:
        rows = (await s.execute(text("SELECT count(*) FROM messages_window_fts"))).scalar_one()
    assert rows == 1


async def test_window_matches_come_with_their_positions(service: AgentService) -> None:
    """The window query returns each match's (seq, created_at) as `positions` would (no second
    lookup), read through migration 0018's covering index rather than the message rows."""
    agent_id, _ = await _agent_with(
        service, ["Where did you relocate last spring?", "Lisbon, for a new job", "The weather is nice"])
    store = service.stores.recall
    assert isinstance(store, SqlRecallStore)
    found, _, placed = await _matches(service, agent_id, "relocate lisbon")
    assert set(placed) == {i for i, _, _ in found} and len(placed) == 3
    assert placed == await store.positions(agent_id, list(placed))
    assert all(at.tzinfo is not None for _, at in placed.values())
    async with store.sessions() as s:
        plan = " ".join(str(r[-1]) for r in await s.execute(
            text("EXPLAIN QUERY PLAN " + _WINDOW_MATCH.format(where="m.agent_id = :agent")),
            {"agent": agent_id, "q": "lisbon", "phrase": '"lisbon"', "limit": 50}))
    assert "COVERING INDEX ix_messages_window_join" in plan, plan


async def test_word_candidates_are_the_best_by_turn_plus_window(service: AgentService) -> None:
    """The window query keeps the `limit` best matches (exact phrases first) by turn + window
    score, each scored as FTS5 scores it alone. (Ordered by the expression ``turn + win`` of
    two bm25() columns, SQLite computed the key again per row; at 10k messages that took 6 of
    14 ms and the key came out as twice the window score, so the best by window were kept.)"""
    words = "heron river bank note stone the a of we saw".split()
    texts = [" ".join(words[(i * 7 + j * j) % len(words)] for j in range(3 + i % 9)) for i in range(60)]
    agent_id, _ = await _agent_with(service, texts)
    store = service.stores.recall
    assert isinstance(store, SqlRecallStore)
    async with store.sessions() as s:
        scored = {r[0]: (float(r[1]), float(r[2]), int(r[3]), int(r[4])) for r in await s.execute(text(
            "SELECT m.id, -bm25(messages_window_fts, 1.0, 0.0), -bm25(messages_window_fts, 0.0, 1.0), m.seq,"
            " m.pk IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH '\"river heron kestrel\"')"
            " FROM messages_window_fts w JOIN messages m ON m.pk = w.rowid"
            " WHERE messages_window_fts MATCH :q AND m.agent_id = :agent"), {"q": '"river" OR "heron" OR "kestrel"', "agent": agent_id})}
    by_total = sorted(scored, key=lambda i: (-scored[i][3], -(scored[i][0] + scored[i][1]), -scored[i][2]))[:6]
    by_window = sorted(scored, key=lambda i: (-scored[i][3], -scored[i][1], -scored[i][2]))[:6]
    assert set(by_total) != set(by_window)  # the data tells the two orders apart
    found, windows, _ = await store.lexical_windows(agent_id, "river heron kestrel", start=None, end=None, limit=6)
    assert [i for i, _, _ in found] == by_total
    for i, turn, _ in found:
        assert abs(turn - scored[i][0]) < 1e-9 and abs(windows[i] - scored[i][1]) < 1e-9
