"""`pgtask top`: a pure frame renderer (render.py) of ops.snapshot.Snapshot, the key and
view state (keys.py, view.py) and a thin rich Live loop (live.py)."""
