"""Connections in EventBridge's shapes (:class:`ConnectionApi`, part of
:class:`~oncue.bus.service.EventBus`).

*Connections for API destination targets*: a connection holds how to authorize requests —
``BASIC`` (``BasicAuthParameters``: Username, Password), ``API_KEY``
(``ApiKeyAuthParameters``: ApiKeyName, ApiKeyValue, sent as a header) or
``OAUTH_CLIENT_CREDENTIALS`` (``OAuthParameters``: ClientParameters, AuthorizationEndpoint,
HttpMethod, OAuthHttpParameters) — plus ``InvocationHttpParameters`` added to every request
(headers, query string parameters, and keys of a JSON object body; see :mod:`.http_target`).
EventBridge keeps the secrets in Secrets Manager and never returns them: DescribeConnection
shows the user name, the key name, the client id and the parameters not marked
``IsValueSecret``. oncue keeps them in its database. API destinations, which use connections,
are :mod:`.api_destinations`; delivery is :mod:`.http_target`'s.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from oncue.asl.jsonutil import dumps, loads
from oncue.bus.clock import Clock
from oncue.bus.http_params import HEADER_NAME, HEADER_VALUE, check_text
from oncue.bus.naming import check_limit
from oncue.bus.resources import (
    arn,
    check_description,
    check_name,
    page_after,
    page_token,
)
from oncue.errors import (
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store.base import Store
from oncue.store.bus_api_sql import ConnectionRecord, ConnectionTx
from oncue.types import Json

__all__ = [
    "AUTHORIZATION_TYPES",
    "CONNECTION_STATES",
    "ENDPOINT",
    "ConnectionApi",
    "public_auth",
]

AUTHORIZATION_TYPES: Final = {
    "BASIC": ("BasicAuthParameters", ("Username", "Password")),
    "API_KEY": ("ApiKeyAuthParameters", ("ApiKeyName", "ApiKeyValue")),
    "OAUTH_CLIENT_CREDENTIALS": ("OAuthParameters", ("AuthorizationEndpoint", "HttpMethod")),
}
CONNECTION_STATES: Final = (
    "CREATING",
    "UPDATING",
    "DELETING",
    "AUTHORIZED",
    "DEAUTHORIZED",
    "AUTHORIZING",
    "DEAUTHORIZING",
    "ACTIVE",
    "FAILED_CONNECTIVITY",
)
_OAUTH_METHODS: Final = ("GET", "POST", "PUT")
ENDPOINT: Final = re.compile(r"https?://[^\s]{1,2040}")


def _invalid(message: str) -> ValidationException:
    return ValidationException(message)


_PARAMETER_GROUPS: Final = ("HeaderParameters", "QueryStringParameters", "BodyParameters")
_MAX_PARAMETERS: Final = 100
_MAX_PARAMETER_TEXT: Final = 512


def _check_http_parameters(params: object, where: str) -> None:
    """ConnectionHttpParameters: up to 100 ``{Key, Value, IsValueSecret}`` per group, keys and
    values of at most 512 characters, header names HTTP tokens."""
    if not isinstance(params, Mapping):
        raise _invalid(f"{where} must be an object.")
    unknown = sorted(set(params) - set(_PARAMETER_GROUPS))
    if unknown:
        raise _invalid(f"{where} has unknown fields: {unknown}.")
    for group in _PARAMETER_GROUPS:
        items = params.get(group)
        if items is None:
            continue
        if not isinstance(items, list) or len(items) > _MAX_PARAMETERS:
            raise _invalid(f"{where}.{group} must be a list of at most {_MAX_PARAMETERS} items.")
        for n, item in enumerate(items):
            at = f"{where}.{group}[{n}]"
            if not isinstance(item, Mapping):
                raise _invalid(f"{at} must be an object with Key and Value.")
            key, value = item.get("Key"), item.get("Value")
            if not isinstance(key, str) or not 0 < len(key) <= _MAX_PARAMETER_TEXT:
                raise _invalid(f"{at}.Key must be a string of 1 to 512 characters.")
            if not isinstance(value, str) or len(value) > _MAX_PARAMETER_TEXT:
                raise _invalid(f"{at}.Value must be a string of at most 512 characters.")
            if not isinstance(item.get("IsValueSecret", False), bool):
                raise _invalid(f"{at}.IsValueSecret must be a boolean.")
            if group == "HeaderParameters":
                check_text(key, HEADER_NAME, f"{at}.Key", "a header name")
                check_text(value, HEADER_VALUE, f"{at}.Value", "printable ASCII text")


def _check_auth(kind: object, auth: object) -> dict[str, Any]:
    if kind not in AUTHORIZATION_TYPES:
        raise _invalid(
            f"Value '{kind}' at 'authorizationType' failed to satisfy constraint: Member must "
            "satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
        )
    if not isinstance(auth, Mapping):
        raise _invalid("AuthParameters is required and must be an object.")
    key, required = AUTHORIZATION_TYPES[str(kind)]
    section = auth.get(key)
    if not isinstance(section, Mapping):
        raise _invalid(f"AuthParameters.{key} is required for AuthorizationType {kind}.")
    for field in required:
        if not isinstance(section.get(field), str) or not section[field]:
            raise _invalid(f"AuthParameters.{key}.{field} is required.")
    if kind == "OAUTH_CLIENT_CREDENTIALS":
        client = section.get("ClientParameters")
        if not isinstance(client, Mapping) or not all(
            isinstance(client.get(f), str) for f in ("ClientID", "ClientSecret")
        ):
            raise _invalid("OAuthParameters.ClientParameters needs ClientID and ClientSecret.")
        if section["HttpMethod"] not in _OAUTH_METHODS:
            raise _invalid("OAuthParameters.HttpMethod must be GET, POST or PUT.")
        if not ENDPOINT.fullmatch(section["AuthorizationEndpoint"]):
            raise _invalid("OAuthParameters.AuthorizationEndpoint must be an HTTP(S) URL.")
        if section.get("OAuthHttpParameters") is not None:
            _check_http_parameters(
                section["OAuthHttpParameters"], "OAuthParameters.OAuthHttpParameters"
            )
    if auth.get("InvocationHttpParameters") is not None:
        _check_http_parameters(auth["InvocationHttpParameters"], "InvocationHttpParameters")
    return dict(auth)


def _public_params(params: Json) -> Json:
    """HTTP parameters without the values marked IsValueSecret."""
    if not isinstance(params, Mapping):
        return params
    shown: dict[str, Json] = {}
    for group, items in params.items():
        if not isinstance(items, list):
            continue
        shown[group] = [
            {k: v for k, v in item.items() if not (k == "Value" and item.get("IsValueSecret"))}
            for item in items
            if isinstance(item, Mapping)
        ]
    return shown


def public_auth(kind: str, auth: Mapping[str, Json]) -> dict[str, Json]:
    """AuthParameters as DescribeConnection shows them: no password, key or client secret."""
    shown: dict[str, Json] = {}
    basic = auth.get("BasicAuthParameters")
    if kind == "BASIC" and isinstance(basic, Mapping):
        shown["BasicAuthParameters"] = {"Username": basic.get("Username")}
    key = auth.get("ApiKeyAuthParameters")
    if kind == "API_KEY" and isinstance(key, Mapping):
        shown["ApiKeyAuthParameters"] = {"ApiKeyName": key.get("ApiKeyName")}
    oauth = auth.get("OAuthParameters")
    if kind == "OAUTH_CLIENT_CREDENTIALS" and isinstance(oauth, Mapping):
        client = oauth.get("ClientParameters")
        document: dict[str, Json] = {
            "ClientParameters": {
                "ClientID": client.get("ClientID") if isinstance(client, Mapping) else None
            },
            "AuthorizationEndpoint": oauth.get("AuthorizationEndpoint"),
            "HttpMethod": oauth.get("HttpMethod"),
        }
        if "OAuthHttpParameters" in oauth:
            document["OAuthHttpParameters"] = _public_params(oauth["OAuthHttpParameters"])
        shown["OAuthParameters"] = document
    if "InvocationHttpParameters" in auth:
        shown["InvocationHttpParameters"] = _public_params(auth["InvocationHttpParameters"])
    return shown


class ConnectionApi:
    """The connection actions; mixed into :class:`~oncue.bus.service.EventBus`."""

    store: Store
    clock: Clock
    region: str
    account: str

    # --- connections -------------------------------------------------------------------

    def _connection(self, ctx: ConnectionTx, name: str) -> ConnectionRecord:
        record = ctx.get_connection(name)
        if record is None:
            raise ResourceNotFoundException(f"Connection '{name}' does not exist.")
        return record

    def _connection_times(self, r: ConnectionRecord) -> dict[str, Json]:
        document: dict[str, Json] = {
            "ConnectionArn": r.arn,
            "ConnectionState": r.state,
            "CreationTime": r.creation_time,
            "LastModifiedTime": r.last_modified,
        }
        if r.last_authorized is not None:
            document["LastAuthorizedTime"] = r.last_authorized
        return document

    def create_connection(
        self,
        name: str,
        authorization_type: str,
        auth_parameters: Json,
        description: str | None = None,
    ) -> dict[str, Json]:
        check_name(name, "name")
        check_description(description)
        auth = _check_auth(authorization_type, auth_parameters)
        now = self.clock.now().timestamp()
        record = ConnectionRecord(
            name=name,
            arn=arn(self.region, self.account, "connection", name, str(uuid.uuid4())),
            description=description,
            authorization_type=authorization_type,
            auth=dumps(auth),
            state="AUTHORIZED",
            creation_time=now,
            last_modified=now,
            last_authorized=now,
        )
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            if ctx.get_connection(name) is not None:
                raise ResourceAlreadyExistsException(f"Connection {name} already exists.")
            ctx.put_connection(record)
        response = self._connection_times(record)
        response.pop("LastAuthorizedTime", None)
        return response

    def describe_connection(self, name: str) -> dict[str, Json]:
        check_name(name, "name")
        with self.store.read() as tx:
            r = self._connection(ConnectionTx(tx), name)
        document: dict[str, Json] = {"ConnectionArn": r.arn, "Name": r.name}
        if r.description is not None:
            document["Description"] = r.description
        document["ConnectionState"] = r.state
        document["AuthorizationType"] = r.authorization_type
        document["AuthParameters"] = public_auth(r.authorization_type, loads(r.auth))
        document.update(self._connection_times(r))
        return document

    def list_connections(
        self,
        name_prefix: str | None = None,
        connection_state: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        count = check_limit(limit)
        if connection_state is not None and connection_state not in CONNECTION_STATES:
            raise _invalid(f"Value '{connection_state}' is not a valid ConnectionState.")
        with self.store.read() as tx:
            rows = ConnectionTx(tx).list_connections(
                name_prefix or "", connection_state, page_after(next_token), count + 1
            )
        response: dict[str, Json] = {
            "Connections": [
                {"Name": r.name, "AuthorizationType": r.authorization_type}
                | self._connection_times(r)
                for r in rows[:count]
            ]
        }
        token = page_token([r.name for r in rows], count)
        if token is not None:
            response["NextToken"] = token
        return response

    def update_connection(
        self,
        name: str,
        description: str | None = None,
        authorization_type: str | None = None,
        auth_parameters: Json = None,
    ) -> dict[str, Json]:
        """UpdateConnection: what is given replaces the connection's; each AuthParameters
        section is merged field by field, so a password can change alone."""
        check_name(name, "name")
        check_description(description)
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            r = self._connection(ctx, name)
            kind = authorization_type or r.authorization_type
            auth: dict[str, Any] = loads(r.auth) if kind == r.authorization_type else {}
            if auth_parameters is not None:
                if not isinstance(auth_parameters, Mapping):
                    raise _invalid("AuthParameters must be an object.")
                for key, value in auth_parameters.items():
                    old = auth.get(key)
                    auth[key] = (
                        {**old, **value}
                        if isinstance(old, Mapping) and isinstance(value, Mapping)
                        else value
                    )
            auth = _check_auth(kind, auth)
            now = self.clock.now().timestamp()
            updated = ConnectionRecord(
                name=r.name,
                arn=r.arn,
                description=description if description is not None else r.description,
                authorization_type=kind,
                auth=dumps(auth),
                state="AUTHORIZED",
                creation_time=r.creation_time,
                last_modified=now,
                last_authorized=now,
            )
            ctx.put_connection(updated)
        return self._connection_times(updated)

    def delete_connection(self, name: str) -> dict[str, Json]:
        check_name(name, "name")
        with self.store.transaction() as tx:
            ctx = ConnectionTx(tx)
            r = self._connection(ctx, name)
            ctx.delete_connection(name)
        return {**self._connection_times(r), "ConnectionState": "DELETING"}
