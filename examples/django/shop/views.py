# examples/django/shop/views.py
from django.db import transaction

from shop.tasks import send_receipt


def place_order(order_id, email):
    with transaction.atomic():
        # ... create the order with the ORM ...
        result = send_receipt.enqueue(order_id, to=email)
        # The task row is written on this same connection: it exists exactly when this
        # transaction commits (an exception here rolls both back).
    return result.id
