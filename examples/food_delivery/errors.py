"""The food-ordering system's errors: subclasses of oncue's error tree.

Each says what is wrong and where (the order id, the field), and carries the HTTP status the
orders API answers with and the exit code a command line would end with::

    oncue.errors.InvalidInput   → InvalidOrder          422  empty order, invalid email, …
    oncue.errors.NotFound       → UnknownRestaurant     404  no restaurant with that id
                                → OrderNotFound         404  no order with that id
    oncue.errors.Conflict       → OrderStateConflict    409  accept twice, accept after the
                                                             timeout, complete before accept
    oncue.errors.OncueError     → NotificationFailed    503  the restaurant screen or the mail
                                                             server could not be reached

``NotificationFailed`` is also the error name a state machine's ``Retry`` catches: a handler
that raises it fails its task with ``"Error": "NotificationFailed"``.
"""

from __future__ import annotations

from oncue.errors import Conflict, InvalidInput, NotFound, OncueError

__all__ = [
    "InvalidOrder",
    "NotificationFailed",
    "OrderNotFound",
    "OrderStateConflict",
    "UnknownRestaurant",
]


class InvalidOrder(InvalidInput):
    """The order request is malformed: the message names the field."""

    http_status = 422
    aws_name = "InvalidOrder"


class UnknownRestaurant(NotFound):
    http_status = 404
    aws_name = "UnknownRestaurant"


class OrderNotFound(NotFound):
    http_status = 404
    aws_name = "OrderNotFound"


class OrderStateConflict(Conflict):
    """The action does not fit the order's status (the message names both)."""

    http_status = 409
    aws_name = "OrderStateConflict"


class NotificationFailed(OncueError):
    """A notification could not be delivered; worth retrying."""

    http_status = 503
    exit_code = 1
    aws_name = "NotificationFailed"
