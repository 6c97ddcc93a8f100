"""Which plugins are offered for a prompt (plugins.select)."""

from __future__ import annotations

import pytest

from smarter.llm.plugins import select, term_matches, words


def plugin(name: str, *terms: str, directive: str = "search_terms") -> dict:
    return {"metadata": {"name": name}, "spec": {"selector": {"directive": directive, "searchTerms": list(terms)}}}


def chosen(manifests: list[dict], *texts: str) -> list[str]:
    return [m["metadata"]["name"] for m in select(manifests, list(texts))]


def test_always_is_offered_for_any_prompt():
    assert chosen([plugin("p", directive="always")], "hello") == ["p"]


def test_a_manifest_without_selector_is_always_offered():
    assert chosen([{"metadata": {"name": "p"}, "spec": {}}], "hello") == ["p"]


def test_search_terms_plugin_is_left_out_when_no_term_appears():
    assert chosen([plugin("p", "refund")], "What is the weather?") == []


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("hours", "What are your HOURS?"),
        ("opening hours", "what are the opening hours, please"),
        ("refund", "Can I get a refund."),
        ("refund", "I want refunds"),
        ("policy", "your policies on returns"),
        ("box", "two boxes"),
        ("customerSupport", "I need customer support"),
        ("customer support", "ask customerSupport"),
        ("customer-support", "customer support please"),
        ("email", "what is your e-mail"),
        ("e-mail", "send an email"),
        ("login", "I cannot log in"),
        ("HTTPServer", "the http server is down"),
        ("refund", "I want a refnud"),
        ("warranty", "is it under warrenty"),
        ("subscription", "cancel my subscirption"),
        ("Zürich", "office in zürich?"),
    ],
)
def test_terms_match_case_plural_camel_hyphen_and_small_typos(term, text):
    assert term_matches(term, words(text)), (term, text)


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("hours", "yours truly"),  # a different first letter is another word, not a typo
        ("hour", "four"),
        ("2023", "the 2024 report"),  # numbers are never fuzzy
        ("refund", "fun"),
        ("opening hours", "hours of opening"),  # a phrase is matched in order
        ("ai", "said"),  # whole words, not substrings
        ("cat", "category"),
    ],
)
def test_no_match_for_different_words(term, text):
    assert not term_matches(term, words(text)), (term, text)


def test_earlier_user_messages_in_the_session_count():
    assert chosen([plugin("p", "refund")], "I want a refund", "when will it arrive?") == ["p"]


def test_a_phrase_does_not_span_two_messages():
    assert chosen([plugin("p", "opening hours")], "what is opening", "hours later") == []


def test_several_plugins_keep_their_order():
    manifests = [plugin("a", "hours"), plugin("b", directive="always"), plugin("c", "refund"), plugin("d", "shipping")]
    assert chosen(manifests, "hours and refund?") == ["a", "b", "c"]


def test_blank_terms_never_match():
    assert chosen([plugin("p", "", "  ", "!!")], "anything at all") == []


def test_words_split_camel_case_acronyms_hyphens_and_underscores():
    assert words("getHTTPResponse e-mail snake_case v2API") == ["get", "http", "response", "e", "mail", "snake", "case", "v2", "api"]


def test_selection_of_list_content_uses_the_text_parts_only():
    # A multimodal message's JSON keys ("type", "text") are not words the user wrote.
    from smarter.llm.chat import _user_texts

    texts = _user_texts([{"role": "user", "content": [{"type": "text", "text": "refund please"}, {"type": "image_url", "image_url": {"url": "x"}}]}])
    assert texts == ["refund please"]
    assert chosen([plugin("p", "type"), plugin("q", "refund")], *texts) == ["q"]


def test_assistant_messages_do_not_select_plugins():
    from smarter.llm.chat import _user_texts

    texts = _user_texts([{"role": "assistant", "content": "ask me about refunds"}, {"role": "user", "content": "hi"}])
    assert chosen([plugin("p", "refund")], *texts) == []


def test_the_indexed_one_word_lookup_agrees_with_term_matches():
    """select() answers one-word terms from an index of the session's words; it
    must decide exactly as term_matches does position by position."""
    from smarter.llm.plugins import _by_first_letter, _text_words, _word_term_matches

    texts = [
        "What are your support hours?",
        "I need an e-mail address for refunds, or a phone number",
        "customerSupport team in Zürich, order 2023 shipped",
        "logins fail: log in page shows policies and boxes",
    ]
    terms = ["hours", "hour", "yours", "email", "refund", "refnud", "support", "customersupport", "zürich", "2024", "2023",
             "login", "policy", "box", "phone", "fone", "shipped", "order", "orders", "team", "x", "page", "pages", "fail"]
    per_text = [_text_words(t) for t in texts]
    index = _by_first_letter(per_text)
    for term in terms:
        (word,) = _text_words(term)
        expected = any(term_matches(term, list(tw)) for tw in per_text)
        assert _word_term_matches(word, index) == expected, term
