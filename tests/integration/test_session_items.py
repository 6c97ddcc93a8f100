"""A request's new session messages are one item (one write unit for a plain
prompt's two), items written one message each before still read, a window
cut across merged items, and messages too large to share an item split."""

from __future__ import annotations

import json

from support import prompt


def session_items(account: str) -> list[dict]:
    from smarter.config import settings
    from smarter.store import aws

    return [item for item in aws.client("dynamodb").scan(TableName=settings().sessions_table)["Items"]
            if item["pk"]["S"].startswith(f"{account}#")]


def test_a_plain_prompt_writes_its_two_messages_as_one_item_of_one_write_unit(tenant, openai_server):
    from bench.cost import item_size

    first = prompt(tenant, "My name is Ada.")
    [item] = session_items(tenant.account)
    assert [m["role"] for m in json.loads(item["msgs"]["S"])] == ["user", "assistant"]
    assert item_size(item) <= 1024
    openai_server.requests.clear()
    second = prompt(tenant, "What is my name?", session_key=first.body["metadata"]["session_key"])
    assert second.status == 200
    sent = openai_server.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "You said: My name is Ada."
    assert len(session_items(tenant.account)) == 2


def test_messages_written_one_item_each_before_are_still_read_in_order(tenant, openai_server):
    from smarter.config import settings
    from smarter.store import aws, sessions

    first = prompt(tenant, "My name is Ada.")
    session_key = first.body["metadata"]["session_key"]
    [merged] = session_items(tenant.account)
    old = [{"role": "user", "content": "older question"}, {"role": "assistant", "content": "older answer"}]
    ddb = aws.client("dynamodb")
    for i, message in enumerate(old):  # the shape of before: one message in `doc`, earlier in time
        ddb.put_item(TableName=settings().sessions_table, Item={
            "pk": merged["pk"], "sk": {"S": f"{1:020d}#{i:04d}"}, "doc": {"S": json.dumps(message)}, "expires_at": {"N": "9999999999"}})
    key_id = merged["pk"]["S"].split("#")[2]
    loaded = sessions.load(tenant.account, tenant.client, session_key, key_id)
    assert [m["content"] for m in loaded] == ["older question", "older answer", "My name is Ada.", "You said: My name is Ada."]


def test_the_window_counts_messages_not_items(aws, monkeypatch):
    from smarter import config
    from smarter.store import journal, sessions

    monkeypatch.setenv("SMARTER_SESSION_WINDOW", "3")
    config.settings.cache_clear()
    writes = []
    for n in range(3):
        writes += sessions.items("3141-5926-5359", "support", "s1", [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}], "k1")
    journal._batch_write(writes)
    loaded = sessions.load("3141-5926-5359", "support", "s1", "k1")
    assert [m["content"] for m in loaded] == ["a1", "q2", "a2"]


def test_messages_too_large_to_share_an_item_are_split_and_read_back_whole(aws):
    from smarter.store import journal, sessions

    big = [{"role": "user", "content": "x" * 200_000}, {"role": "tool", "content": "y" * 200_000}, {"role": "assistant", "content": "done"}]
    writes = sessions.items("3141-5926-5359", "support", "s2", big, "k1")
    assert len(writes) == 2
    assert all(len(item["msgs"]["S"]) <= sessions.ITEM_BYTES + 10 for _, item in writes)
    journal._batch_write(writes)
    assert sessions.load("3141-5926-5359", "support", "s2", "k1") == big
