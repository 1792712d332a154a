"""Property: no input, however malformed, makes the API answer 500."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgtask.web.queue_settings import QUEUE_FIELDS
from pgtask.web.validation import TASK_FIELDS

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

text = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "a", "emails.send", "default", "\u0000", "\ud800", "x" * 300, "100/s", "5m", "-1",
     "2030-01-01T00:00:00Z", "2030-01-01", "https://example.test", "NaN", "1e999"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12)


def bodies(fields: tuple[str, ...]):
    keys = st.one_of(st.sampled_from(fields), text)
    return st.dictionaries(keys, json_values, max_size=len(fields) + 1)


def assert_not_500(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


@FUZZ
@given(body=bodies(TASK_FIELDS))
def test_random_task_bodies(client, body):
    raw = json.dumps(body, allow_nan=False).encode("utf-8", "surrogatepass")
    assert_not_500(client.post("/api/tasks", content=raw,
                               headers={"Content-Type": "application/json"}))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200),
                     text.map(lambda s: s.encode("utf-8", "surrogatepass"))),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8",
                                     "text/plain", ""]))
def test_random_bytes(client, raw, content_type):
    assert_not_500(client.post("/api/tasks", content=raw, headers={"Content-Type": content_type}))


@FUZZ
@given(params=st.lists(st.tuples(st.sampled_from(["state", "queue", "type", "after", "before",
                                                   "limit", "x"]), text), max_size=4))
def test_random_list_queries(client, params):
    query = "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params)
    assert_not_500(client.get(f"/api/tasks?{query}"))


@FUZZ
@given(body=bodies(QUEUE_FIELDS), name=st.one_of(st.just("default"), text))
def test_random_queue_patches(client, body, name):
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    path = "/api/queues/" + "".join(c for c in name if c.isprintable() and c not in "/?#%")
    assert_not_500(client.patch(path, content=raw, headers={"Content-Type": "application/json"}))


@FUZZ
@given(task_id=text, verb=st.sampled_from(["retry", "cancel", ""]), body=bodies(("reason",)))
def test_random_task_ids_and_actions(client, task_id, verb, body):
    safe = "".join(c for c in task_id if c.isprintable() and c not in "/?#%") or "1"
    path = f"/api/tasks/{safe}/{verb}".rstrip("/")
    if verb:
        assert_not_500(client.post(path, content=json.dumps(body).encode("utf-8", "surrogatepass"),
                                   headers={"Content-Type": "application/json"}))
    else:
        assert_not_500(client.get(path))
