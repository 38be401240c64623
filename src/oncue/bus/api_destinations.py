"""API destinations in EventBridge's shapes (:class:`ApiDestinationApi`, part of
:class:`~oncue.bus.service.EventBus`).

*API destinations as targets*: an API destination is an HTTP endpoint (``InvocationEndpoint``,
whose ``*`` wildcards a target's ``PathParameterValues`` fill), an ``HttpMethod`` (any but
CONNECT and TRACE), a connection (:mod:`.connections`) that authorizes the requests, and an
``InvocationRateLimitPerSecond`` (default 300). Its ARN
``arn:aws:events:REGION:ACCOUNT:api-destination/NAME/ID`` is a rule target; delivery is
:mod:`.http_target`'s.
"""

from __future__ import annotations

import uuid
from typing import Final

from oncue.bus.clock import Clock
from oncue.bus.connections import ENDPOINT
from oncue.bus.naming import check_limit
from oncue.bus.resources import (
    arn,
    check_description,
    check_name,
    name_from_arn,
    page_after,
    page_token,
)
from oncue.errors import (
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store.base import Store
from oncue.store.bus_api_sql import ApiDestinationRecord, ConnectionTx
from oncue.types import Json

__all__ = ["HTTP_METHODS", "ApiDestinationApi"]

HTTP_METHODS: Final = ("POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")
_DEFAULT_RATE: Final = 300


def _invalid(message: str) -> ValidationException:
    return ValidationException(message)


class ApiDestinationApi:
    """The API destination actions; mixed into :class:`~oncue.bus.service.EventBus`."""

    store: Store
    clock: Clock
    region: str
    account: str

    def _destination(self, ctx: ConnectionTx, name: str) -> ApiDestinationRecord:
        record = ctx.get_destination(name)
        if record is None:
            raise ResourceNotFoundException(f"An api-destination '{name}' does not exist.")
        return record

    def _destination_document(self, r: ApiDestinationRecord) -> dict[str, Json]:
        document: dict[str, Json] = {"ApiDestinationArn": r.arn, "Name": r.name}
        if r.description is not None:
            document["Description"] = r.description
        document.update(
            {
                "ApiDestinationState": r.state,
                "ConnectionArn": r.connection,
                "InvocationEndpoint": r.endpoint,
                "HttpMethod": r.http_method,
                "InvocationRateLimitPerSecond": r.rate_limit,
                "CreationTime": r.creation_time,
                "LastModifiedTime": r.last_modified,
            }
        )
        return document

    def _check_destination(
        self, ctx: ConnectionTx, connection_arn: object, endpoint: object, method: object
    ) -> str:
        connection = name_from_arn(connection_arn, "connection", "ConnectionArn")
        if ctx.get_connection(connection) is None:
            raise ResourceNotFoundException(f"Connection '{connection}' does not exist.")
        if not isinstance(endpoint, str) or not ENDPOINT.fullmatch(endpoint):
            raise _invalid(f"Parameter InvocationEndpoint is not a valid URL: {endpoint!r}.")
        if method not in HTTP_METHODS:
            raise _invalid(
                f"Value '{method}' at 'httpMethod' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(HTTP_METHODS)}]"
            )
        return str(connection_arn)

    def create_api_destination(
        self,
        name: str,
        connection_arn: str,
        invocation_endpoint: str,
        http_method: str,
        invocation_rate_limit_per_second: int | None = None,
        description: str | None = None,
    ) -> dict[str, Json]:
        check_name(name, "name")
        check_description(description)
        rate = _rate(invocation_rate_limit_per_second)
        now = self.clock.now().timestamp()
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            self._check_destination(ctx, connection_arn, invocation_endpoint, http_method)
            if ctx.get_destination(name) is not None:
                raise ResourceAlreadyExistsException(f"An api-destination {name} already exists.")
            record = ApiDestinationRecord(
                name=name,
                arn=arn(self.region, self.account, "api-destination", name, str(uuid.uuid4())),
                description=description,
                connection=connection_arn,
                endpoint=invocation_endpoint,
                http_method=http_method,
                rate_limit=rate,
                state="ACTIVE",
                creation_time=now,
                last_modified=now,
            )
            ctx.put_destination(record)
        return {
            "ApiDestinationArn": record.arn,
            "ApiDestinationState": "ACTIVE",
            "CreationTime": now,
            "LastModifiedTime": now,
        }

    def describe_api_destination(self, name: str) -> dict[str, Json]:
        check_name(name, "name")
        with self.store.read() as tx:
            return self._destination_document(self._destination(ConnectionTx(tx), name))

    def list_api_destinations(
        self,
        name_prefix: str | None = None,
        connection_arn: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        count = check_limit(limit)
        with self.store.read() as tx:
            rows = ConnectionTx(tx).list_destinations(
                name_prefix or "", connection_arn, page_after(next_token), count + 1
            )
        documents = []
        for r in rows[:count]:
            document = self._destination_document(r)
            document.pop("Description", None)
            documents.append(document)
        response: dict[str, Json] = {"ApiDestinations": documents}
        token = page_token([r.name for r in rows], count)
        if token is not None:
            response["NextToken"] = token
        return response

    def update_api_destination(
        self,
        name: str,
        description: str | None = None,
        connection_arn: str | None = None,
        invocation_endpoint: str | None = None,
        http_method: str | None = None,
        invocation_rate_limit_per_second: int | None = None,
    ) -> dict[str, Json]:
        check_name(name, "name")
        check_description(description)
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            r = self._destination(ctx, name)
            connection = connection_arn or r.connection
            endpoint = invocation_endpoint or r.endpoint
            method = http_method or r.http_method
            self._check_destination(ctx, connection, endpoint, method)
            rate = (
                _rate(invocation_rate_limit_per_second)
                if invocation_rate_limit_per_second is not None
                else r.rate_limit
            )
            now = self.clock.now().timestamp()
            ctx.put_destination(
                ApiDestinationRecord(
                    name=name,
                    arn=r.arn,
                    description=description if description is not None else r.description,
                    connection=connection,
                    endpoint=endpoint,
                    http_method=method,
                    rate_limit=rate,
                    state=r.state,
                    creation_time=r.creation_time,
                    last_modified=now,
                )
            )
        return {
            "ApiDestinationArn": r.arn,
            "ApiDestinationState": r.state,
            "CreationTime": r.creation_time,
            "LastModifiedTime": now,
        }

    def delete_api_destination(self, name: str) -> dict[str, Json]:
        check_name(name, "name")
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            self._destination(ctx, name)
            ctx.delete_destination(name)
        return {}


def _rate(value: object) -> int:
    if value is None:
        return _DEFAULT_RATE
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(
            f"1 validation error detected: Value '{value}' at 'invocationRateLimitPerSecond' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1"
        )
    return value
