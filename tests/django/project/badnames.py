"""Module-level functions that no pgtask backend can take as tasks (see test_backend)."""


def SendEmail():  # noqa: N802 - the point: a capital letter in the task type
    return None


def fine():
    return None
