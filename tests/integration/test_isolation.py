"""Two accounts with clients of the same name never see each other's data."""

from __future__ import annotations

from support import count_usage, journal_records, make_tenant, prompt


def test_same_client_name_in_two_accounts_keeps_sessions_apart(aws, openai_server):
    a = make_tenant("1111-1111-1111", "helpdesk")
    b = make_tenant("2222-2222-2222", "helpdesk")
    first = prompt(a, "secret of account A")
    session_a = first.body["metadata"]["session_key"]
    openai_server.requests.clear()
    # B presents A's session key: B gets a fresh session and none of A's messages.
    result = prompt(b, "what did A say?", session_key=session_a)
    assert result.status == 200
    assert result.body["metadata"]["session_key"] != session_a
    sent = openai_server.requests[-1]["json"]["messages"]
    assert "secret of account A" not in str(sent)


def test_same_client_name_in_two_accounts_keeps_journals_apart(aws):
    a = make_tenant("1111-1111-1111", "helpdesk")
    b = make_tenant("2222-2222-2222", "helpdesk")
    key_a = prompt(a, "from A").body["metadata"]["key"]
    key_b = prompt(b, "from B").body["metadata"]["key"]
    assert [r["key"] for r in journal_records(a.account, a.client)] == [key_a]
    assert [r["key"] for r in journal_records(b.account, b.client)] == [key_b]


def test_a_key_of_one_account_cannot_call_the_other_accounts_client(aws):
    a = make_tenant("1111-1111-1111", "helpdesk")
    b = make_tenant("2222-2222-2222", "helpdesk")
    assert prompt(b, "hi", key=a.api_key).status == 403
    assert prompt(a, "hi", key=b.api_key).status == 403


def test_usage_counters_are_per_account(aws):
    from smarter.store import usage

    a = make_tenant("1111-1111-1111", "helpdesk")
    b = make_tenant("2222-2222-2222", "helpdesk")
    prompt(a, "one")
    prompt(a, "two")
    prompt(b, "three")
    count_usage()
    assert usage.for_account(a.account)[0]["requests"] == 2
    assert usage.for_account(b.account)[0]["requests"] == 1


def test_a_session_continues_only_with_the_key_that_started_it(aws, openai_server):
    """Another key allowed on the same client, given the session key, starts a new session."""
    from smarter_admin import manifests

    a = make_tenant("1111-1111-1111", "helpdesk")
    other = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "second-app", "account": a.account},
                             "spec": {"clients": ["helpdesk"]}})
    first = prompt(a, "my order number is 4711")
    session = first.body["metadata"]["session_key"]
    openai_server.requests.clear()
    stranger = prompt(a, "what is my order number?", session_key=session, key=other["api_key"])
    assert stranger.status == 200
    assert stranger.body["metadata"]["session_key"] != session
    assert "4711" not in str(openai_server.requests[-1]["json"]["messages"])
    # The key that started it still continues it.
    openai_server.requests.clear()
    again = prompt(a, "and again?", session_key=session)
    assert again.body["metadata"]["session_key"] == session
    assert "4711" in str(openai_server.requests[-1]["json"]["messages"])
