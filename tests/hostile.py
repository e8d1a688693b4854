"""Hostile input records for every input topic, as hypothesis strategies: what a careless or
malicious producer can put on a topic. Shared by the ingest-path test (no broker) and the
real-broker test.

A record is (topic without prefix, key, value), both raw bytes. Most are a plausible event of
the topic with one or two fields made hostile, so that they reach past JSON parsing into the
models and the domain; the rest are raw bytes no parser expects.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from streamproc.streaming.topics import INPUT_TOPICS

HostileRecord = tuple[str, bytes | None, bytes | None]
RAW = "@@raw@@"
"""Stands in a document for raw JSON that orjson would not write (deep nesting, escapes of
lone surrogates, numbers past a double): `_document` swaps it in after `orjson.dumps`."""

FIELDS: dict[str, dict[str, Any]] = {
    "page-visits": {"url": "https://acme.test/pricing", "anonymous_id": "anon-1"},
    "downloads": {"asset_id": "roi", "asset_type": "roi-calculator", "funnel_stage": "bottom"},
    "demo-bookings": {"scheduled_for": "2026-03-03T10:00:00Z", "channel": "web"},
    "lead-profiles": {
        "email": "vp@fit.test",
        "company": {"name": "Fit", "employees": 120, "industry": "SaaS", "country": "DE"},
        "person": {"title": "VP of Marketing"},
        "lane": "inbound",
    },
    "sales-actions": {
        "action": "qualify",
        "rep_id": "rep-1",
        "reason_code": "no_budget",
        "qualification": {"budget": "yes"},
        "amount": 100.0,
    },
    "lead-erasures": {"requested_at": "2026-03-02T09:00:00Z", "requested_by": "privacy-team"},
}
"""A plausible event's own fields, per topic: the fields hostile values replace."""
NESTED_FIELDS = ("company.employees", "company.name", "person.title", "qualification.budget")

characters = st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x01", "\u202e", "\ufeff"])
texts = st.one_of(
    st.text(characters, max_size=40),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "\x00", "\x01", "é", "😀"]),
        st.sampled_from([255, 256, 257, 2048, 2049, 70_000]),
    ),
)
raw_json = st.one_of(
    st.integers(1, 1_100).map(lambda depth: "[" * depth + "1" + "]" * depth),
    st.integers(1, 1_100).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\u0000"', "1e400", "-1e400", "1" * 400]),
)
integers = st.integers(-(2**63), 2**64 - 1)
"""What orjson writes; longer numbers come raw (`raw_json`)."""
values: st.SearchStrategy[Any] = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            " ",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00Z",
            "2899-01-01T00:00:00Z",
            "1970-01-01T00:00:00+14:00",
            "2026-03-02T09:00:00",
            "2026-02-30T09:00:00Z",
            "not an email",
            "a@",
        ]
    ),
    st.lists(integers, max_size=3),
    st.dictionaries(st.text(max_size=5), integers, max_size=3),
    st.just(RAW),
)


def _document(
    topic: str, lead: str, event_id: str, occurred: Any, changes: dict[str, Any], raw: str
) -> bytes:
    document: dict[str, Any] = {
        "event_id": event_id,
        "lead_id": lead,
        "occurred_at": occurred,
        **orjson.loads(orjson.dumps(FIELDS[topic])),
    }
    for path, value in changes.items():
        where = document
        *parents, name = path.split(".")
        for parent in parents:
            if not isinstance(where.get(parent), dict):
                where[parent] = {}
            where = where[parent]
        where[name] = value
    return orjson.dumps(document).replace(orjson.dumps(RAW), raw.encode())


@st.composite
def hostile_records(draw: st.DrawFn, lead: str) -> HostileRecord:
    """One hostile record for `lead` (or for a key that differs from it)."""
    topic = draw(st.sampled_from(INPUT_TOPICS))
    key_text = draw(st.sampled_from([lead, lead, lead, f"{lead} ", f" {lead}", lead.upper(), ""]))
    key: bytes | None = draw(
        st.sampled_from([key_text.encode(), key_text.encode(), None, b"\xff" + lead.encode()])
    )
    kind = draw(st.sampled_from(["fields", "fields", "fields", "bytes"]))
    if kind == "bytes":
        value = draw(
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from([b"", b"null", b"[]", b"{}", b"{", b"\xff\xfe", b'"x"']),
                st.integers(60_000, 200_000).map(lambda n: b"\x01" * n),
            )
        )
        # No value at all, too (aiokafka sends no record without a key and a value).
        return topic, key, draw(st.sampled_from([value, value, None if key else b""]))
    names = ["event_id", "lead_id", "occurred_at", *FIELDS[topic], *NESTED_FIELDS]
    changes = draw(st.dictionaries(st.sampled_from(names), values, min_size=1, max_size=3))
    event_id = draw(st.sampled_from(["e1", "e2", "e3", "e4", " e1"]))  # repeats: duplicates
    occurred = "2026-03-02T09:00:00Z"
    return topic, key, _document(topic, lead, event_id, occurred, changes, draw(raw_json))
