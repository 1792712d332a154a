# examples/django/shop/tasks.py
try:
    from django.tasks import task  # Django >= 6.0
except ImportError:
    from django_tasks import task  # Django 5.2: pip install django-tasks


@task
def add(a, b):
    """Add two numbers (the return value is the task's result)."""
    return a + b


@task(queue_name="emails", priority=50)
def send_receipt(order_id, to):
    return {"order": order_id, "sent_to": to}


@task
def charge_card(order_id):
    raise RuntimeError(f"card declined for order {order_id}")


@task(takes_context=True)
def flaky(context, order_id):
    """Fails its first attempt, succeeds on the second."""
    if context.attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return {"order": order_id, "attempt": context.attempt}


@task
async def notify(order_id):
    return f"notified {order_id}"
