"""Identities, agent tags and the global message list/search, through the real letta-client
(strict response validation: the SDK's types are the contract) and over raw HTTP where the
SDK has no method (``/v1/identities``), with two users to show tenancy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from letta_client import Letta, NotFoundError
from letta_client.types.agents import AssistantMessage, UserMessage

from memgpt import AgentService, ScriptedModel, Settings
from memgpt.core.errors import AlreadyExistsError, InvalidRequestError
from memgpt.llm.scripted import reply
from letta_users import letta, two_users


@dataclass
class Users:
    """Two users of one server: ada (the SDK and raw HTTP) and bob (the intruder)."""

    ada: Letta
    bob: Letta
    http: httpx.Client
    bob_http: httpx.Client
    model: ScriptedModel


@pytest.fixture
def users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Users]:
    """A server requiring keys, with keys for ada and bob and a scripted model."""
    model = ScriptedModel()
    with two_users(settings, monkeypatch, model) as (url, ada_key, bob_key):
        def raw(key: str) -> httpx.Client:
            return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

        with letta(url, ada_key) as ada, letta(url, bob_key) as bob, raw(ada_key) as http, raw(bob_key) as bob_http:
            yield Users(ada, bob, http, bob_http, model)


def _identity(http: httpx.Client, key: str, **extra: object) -> dict[str, object]:
    r = http.post("/v1/identities/", json={"identifier_key": key, "name": key.title(), **extra})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_identities_crud_attach_and_tenancy(users: Users) -> None:
    """Create, list with filters, update, upsert, attach/detach through the SDK, delete; the
    key is unique per user; another user sees none of it."""
    agent = users.ada.agents.create(name="helper", model="scripted")
    acme = _identity(users.http, "acme", identity_type="org",
                     properties=[{"key": "plan", "value": "gold", "type": "string"}])
    carol = _identity(users.http, "carol", agent_ids=[agent.id])
    assert carol["agent_ids"] == [agent.id] and acme["identity_type"] == "org"
    assert users.http.post("/v1/identities/", json={"identifier_key": "acme", "name": "x"}).status_code == 409
    assert _identity(users.bob_http, "acme")["id"] != acme["id"]  # keys are per user

    listed = users.http.get("/v1/identities/", params={"identity_type": "org"}).json()
    assert [i["id"] for i in listed] == [acme["id"]]
    assert [i["identifier_key"] for i in users.http.get("/v1/identities/", params={"name": "car"}).json()] == ["carol"]

    users.ada.agents.identities.attach(str(acme["id"]), agent_id=agent.id)
    state = users.ada.agents.retrieve(agent.id)
    assert state.identity_ids == [acme["id"], carol["id"]]
    assert state.identities is not None and state.identities[0].properties is not None
    assert state.identities[0].properties[0].value == "gold"
    assert [a.id for a in users.ada.agents.list(identity_id=str(acme["id"]))] == [agent.id]
    assert [a.id for a in users.ada.agents.list(identifier_keys=["carol"])] == [agent.id]

    users.ada.agents.identities.detach(str(carol["id"]), agent_id=agent.id)
    assert users.ada.agents.retrieve(agent.id).identity_ids == [acme["id"]]
    with pytest.raises(NotFoundError):  # not linked any more
        users.ada.agents.identities.detach(str(carol["id"]), agent_id=agent.id)

    changed = users.http.patch(f"/v1/identities/{acme['id']}", json={"name": "Acme Inc."}).json()
    assert changed["name"] == "Acme Inc." and changed["properties"][0]["key"] == "plan"
    upserted = users.http.put("/v1/identities/", json={"identifier_key": "acme", "name": "Acme 2", "agent_ids": []})
    assert upserted.json()["id"] == acme["id"] and upserted.json()["agent_ids"] == []
    assert upserted.json()["properties"] == []  # an upsert replaces the identity whole
    for key, value, kind in (("plan", "silver", "string"), ("seats", 5, "number"), ("plan", "gold", "string")):
        props = users.http.put(f"/v1/identities/{acme['id']}/properties",
                               json=[{"key": key, "value": value, "type": kind}]).json()
    assert {p["key"]: p["value"] for p in props["properties"]} == {"seats": 5, "plan": "gold"}

    # bob: 404 on ada's identity and agent, and his lists hold only his own
    for method, url in (("GET", f"/v1/identities/{acme['id']}"), ("PATCH", f"/v1/identities/{acme['id']}"),
                        ("DELETE", f"/v1/identities/{acme['id']}")):
        assert users.bob_http.request(method, url, json={"name": "mine"}).status_code == 404
    with pytest.raises(NotFoundError):
        users.bob.agents.identities.attach(str(acme["id"]), agent_id=agent.id)
    assert [i["identifier_key"] for i in users.bob_http.get("/v1/identities/").json()] == ["acme"]

    # identity_ids on create and update: exactly these; another user's id is 404 and makes nothing
    made = users.ada.agents.create(name="second", model="scripted", identity_ids=[str(carol["id"])])
    assert made.identity_ids == [carol["id"]]
    assert users.ada.agents.update(made.id, identity_ids=[str(acme["id"])]).identity_ids == [acme["id"]]
    theirs = _identity(users.bob_http, "dave")
    with pytest.raises(NotFoundError):
        users.ada.agents.create(name="third", model="scripted", identity_ids=[str(theirs["id"])])
    assert [a.name for a in users.ada.agents.list()] == ["second", "helper"]

    assert users.http.delete(f"/v1/identities/{carol['id']}").status_code == 200
    assert users.http.get(f"/v1/identities/{carol['id']}").status_code == 404
    assert users.http.post("/v1/identities/", json={"identifier_key": "x", "name": "x",
                                                    "identity_type": "robot"}).status_code == 422


def test_tags_on_agents_list_filter_and_tenancy(users: Users) -> None:
    """Tags set on create and update; /v1/tags lists the user's distinct tags with paging;
    the agents list filters by any or all tags."""
    a = users.ada.agents.create(name="a", model="scripted", tags=["sales", "eu"])
    b = users.ada.agents.create(name="b", model="scripted", tags=["sales", "us"])
    users.bob.agents.create(name="c", model="scripted", tags=["secret"])
    assert users.ada.agents.retrieve(a.id).tags == ["eu", "sales"]
    assert users.ada.tags.list() == ["eu", "sales", "us"]
    assert users.bob.tags.list() == ["secret"]
    assert users.ada.tags.list(name="S") == ["sales", "us"]
    assert users.ada.tags.list(after="eu", limit=1) == ["sales"]
    assert users.ada.tags.list(order="desc", before="eu") == ["sales", "us"][::-1]

    assert {x.id for x in users.ada.agents.list(tags=["eu", "us"])} == {a.id, b.id}
    assert [x.id for x in users.ada.agents.list(tags=["sales", "eu"], match_all_tags=True)] == [a.id]
    assert users.ada.agents.list(tags=["secret"]).items == []

    users.ada.agents.update(b.id, tags=["archived"])
    assert users.ada.tags.list() == ["archived", "eu", "sales"]
    r = users.http.patch(f"/v1/agents/{a.id}", json={"tags": [""]})
    assert r.status_code == 400 and users.ada.agents.retrieve(a.id).tags == ["eu", "sales"]
    users.ada.agents.delete(a.id)
    assert users.ada.tags.list() == ["archived"]


def test_global_messages_list_search_retrieve(users: Users) -> None:
    """Messages of all the user's agents, paged by id either way; search across agents and
    within one; retrieve by id; another user gets none of them."""
    one = users.ada.agents.create(name="one", model="scripted")
    two = users.ada.agents.create(name="two", model="scripted")
    users.model.push(reply("Noted: the zebra is called Quill."), reply("Your heron is Pip."))
    users.ada.agents.messages.create(agent_id=one.id, messages=[{"role": "user", "content": "my zebra is Quill"}])
    users.ada.agents.messages.create(agent_id=two.id, messages=[{"role": "user", "content": "my heron is Pip"}])

    newest = users.ada.messages.list(limit=100)
    texts = [m.content for m in newest if isinstance(m, (UserMessage, AssistantMessage))]
    assert texts[:4] == ["Your heron is Pip.", "my heron is Pip", "Noted: the zebra is called Quill.",
                         "my zebra is Quill"]
    users_only = users.ada.messages.list(include_return_message_types=["user_message"], order="asc")
    assert [m.content for m in users_only if isinstance(m, UserMessage)] == ["my zebra is Quill", "my heron is Pip"]
    ids = list(dict.fromkeys(m.id for m in users.ada.messages.list(order="asc", limit=1000)))
    page = list(dict.fromkeys(m.id for m in users.ada.messages.list(order="asc", after=ids[1], limit=2)))
    assert page == ids[2:4]
    back = list(dict.fromkeys(m.id for m in users.ada.messages.list(order="desc", before=ids[3], limit=2)))
    assert back == ids[4:6][::-1]

    hits = users.ada.messages.search(query="zebra Quill")
    assert hits and hits[0].agent_id == one.id
    only_two = users.ada.messages.search(query="heron", agent_id=two.id)
    assert only_two and {h.agent_id for h in only_two} == {two.id}
    found = users.ada.messages.retrieve(hits[0].message_id)
    assert found and all(m.id == hits[0].message_id for m in found)

    assert users.bob.messages.list() == []
    assert users.bob.messages.search(query="zebra Quill") == []
    with pytest.raises(NotFoundError):
        users.bob.messages.retrieve(hits[0].message_id)
    with pytest.raises(NotFoundError):
        users.bob.messages.search(query="heron", agent_id=two.id)


async def test_identity_service_rules(service: AgentService) -> None:
    """The Python API: keys unique per user, bad input refused before anything is written,
    and deleting an agent unlinks it."""
    agent = await service.create_agent("solo", model="scripted")
    made = await service.create_identity("k1", "K One", agent_ids=[agent.id])
    with pytest.raises(AlreadyExistsError):
        await service.create_identity("k1", "again")
    with pytest.raises(InvalidRequestError):
        await service.update_identity(made.id, identity_type="robot")
    assert (await service.get_identity(made.id)).identity_type == "user"
    other = service.scoped("eve")
    assert await other.list_identities() == []
    await other.create_identity("k1", "Eve's own")  # the same key for another user
    with pytest.raises(InvalidRequestError):
        await service.set_agent_tags(agent.id, ["ok", " "])
    assert await service.agent_tags(agent.id) == []
    await service.delete_agent(agent.id)
    assert (await service.get_identity(made.id)).agent_ids == []
