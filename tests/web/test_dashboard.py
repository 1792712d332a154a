"""The dashboard's pages and live fragments, rendered server-side."""

from __future__ import annotations

from .conftest import enqueue, make


def test_overview_shows_queues_failures_workers_and_tasks(client, db):
    dead = make(db, "dead", queue="emails", task_type="emails.send")
    queued = make(db, "queued", queue="emails")
    db.execute("select pgtask.register_worker('w-1', 'host-a', 42, null, null, 8)")
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'data-queue="emails"' in html and "host-a:42" in html
    assert f'id="task-{dead}" data-state="dead"' in html and "boom" in html
    assert f'data-action="/api/tasks/{dead}/retry"' in html
    assert f'data-action="/api/tasks/{queued}/cancel"' in html
    assert 'data-action="/api/queues/emails" data-method="PATCH"' in html
    assert "<script" in html and "http" not in html.split("<script", 1)[1].split(">", 1)[0]


def test_live_fragment_sees_new_tasks(client, db):
    before = client.get("/ui/live").text
    task_id = enqueue(db, "fresh.task")
    after = client.get("/ui/live").text
    assert f'id="task-{task_id}"' not in before and f'id="task-{task_id}"' in after
    assert "<html" not in after


def test_filters_and_pages(client, db):
    ids = [make(db, "queued", queue="a") for _ in range(60)]
    other = make(db, "dead", queue="b")
    page = client.get("/?queue=a").text
    assert f'id="task-{ids[-1]}"' in page and f'id="task-{other}"' not in page
    assert f'id="task-{ids[0]}"' not in page  # 50 a page, newest first
    assert f"before={ids[10]}" in page
    older = client.get(f"/?queue=a&before={ids[10]}").text
    assert f'id="task-{ids[0]}"' in older and f'id="task-{ids[10]}"' not in older
    assert f'id="task-{other}"' in client.get("/?state=dead").text
    assert client.get("/?state=bogus").status_code == 400


def test_task_page_shows_everything(client, db):
    parent = make(db, "succeeded", task_type="build.report")
    child = enqueue(db, "mail.report")
    db.execute("update pgtask.tasks set parent_id = %s where id = %s", (parent, child))
    db.execute("select pgtask.append_logs(array[%s]::bigint[], array[1], array[now()], "
               "array['info'], array['<b>escaped</b>'])", (parent,))
    db.execute("select pgtask.record_http_attempts(array[%s]::bigint[], array[1], "
               "array['0s']::interval[], array[503], array[41.0], array['http 503'], "
               "array['busy'])", (parent,))
    html = client.get(f"/tasks/{parent}").text
    assert "build.report" in html and "&#34;ok&#34;: 1" in html  # the result, pretty-printed
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html and "<b>escaped" not in html
    assert "http 503" in html and f'href="/tasks/{child}"' in html
    fragment = client.get(f"/ui/tasks/{parent}").text
    assert "<html" not in fragment and "build.report" in fragment
    assert client.get("/tasks/987654").status_code == 404


def test_read_only_users_see_no_buttons(secured, db):
    from .conftest import READ_TOKEN, bearer

    make(db, "dead")
    html = secured.get("/", headers=bearer(READ_TOKEN)).text
    assert "data-action" not in html
