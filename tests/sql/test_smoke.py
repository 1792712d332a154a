def test_enqueue_then_claim(db):
    task_id = db.execute("select pgtask.enqueue_task('emails.send', '{\"to\": \"a@b.c\"}') as id").fetchone()["id"]
    claimed = db.execute("select * from pgtask.claim_task(null, 'w1', 10)").fetchall()
    assert [row["id"] for row in claimed] == [task_id]
