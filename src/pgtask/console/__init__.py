"""`pgtask top`: a snapshot of the queues (snapshot.py), a pure frame renderer (render.py)
and a thin rich Live loop reading keys (live.py)."""
