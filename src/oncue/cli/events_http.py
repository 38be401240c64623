"""``oncue events connections`` and ``oncue events api-destinations``: create, describe, list,
update, delete. Secrets go in through options (or ``--auth-parameters`` JSON) and never come
out: describe shows what EventBridge's DescribeConnection shows."""

from __future__ import annotations

from typing import Any

import click

from oncue.asl.jsonutil import loads
from oncue.cli.common import api_errors, database_option, json_option, json_text
from oncue.cli.events_cmd import open_bus, page_options, show_page
from oncue.cli.output import emit_json, format_time, show_fields
from oncue.errors import ValidationException
from oncue.types import Json

__all__ = ["api_destinations", "connections"]


def _auth(
    auth_type: str,
    auth_json: str | None,
    username: str | None,
    password: str | None,
    key_name: str | None,
    key_value: str | None,
    client_id: str | None,
    client_secret: str | None,
    token_endpoint: str | None,
    token_method: str,
) -> Json:
    text = json_text(auth_json, None, "auth parameters")
    if text is not None:
        return loads(text)
    if auth_type == "BASIC":
        return {"BasicAuthParameters": {"Username": username, "Password": password}}
    if auth_type == "API_KEY":
        return {"ApiKeyAuthParameters": {"ApiKeyName": key_name, "ApiKeyValue": key_value}}
    return {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": client_id, "ClientSecret": client_secret},
            "AuthorizationEndpoint": token_endpoint,
            "HttpMethod": token_method,
        }
    }


def _auth_options(function: click.decorators.FC) -> click.decorators.FC:
    # create and update take the same nine options; the commands receive them as
    # ``**auth_options`` (keyword names as in _auth) rather than spelling them out twice.
    options = [
        click.option("--auth-parameters", "auth_json", default=None, metavar="JSON"),
        click.option("--username", default=None, help="BASIC"),
        click.option("--password", default=None, help="BASIC"),
        click.option("--api-key-name", "key_name", default=None, help="API_KEY: the header."),
        click.option("--api-key-value", "key_value", default=None, help="API_KEY"),
        click.option("--client-id", default=None, help="OAUTH_CLIENT_CREDENTIALS"),
        click.option("--client-secret", default=None, help="OAUTH_CLIENT_CREDENTIALS"),
        click.option("--token-endpoint", default=None, help="OAUTH_CLIENT_CREDENTIALS"),
        click.option("--token-method", default="POST", show_default=True),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group("connections")
def connections() -> None:
    """Connections (how API destinations authorize): create, describe, list, update,
    delete."""


@connections.command("create")
@click.argument("name")
@click.option(
    "--auth-type",
    required=True,
    type=click.Choice(["BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"]),
)
@_auth_options
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def create_connection(
    name: str,
    auth_type: str,
    description: str | None,
    database_url: str,
    as_json: bool,
    **auth_options: Any,
) -> None:
    """CreateConnection; print its ARN."""
    auth = _auth(auth_type, **auth_options)
    response = open_bus(database_url).create_connection(name, auth_type, auth, description)
    emit_json(response) if as_json else click.echo(response["ConnectionArn"])


@connections.command("describe")
@click.argument("name")
@database_option
@json_option
@api_errors
def describe_connection(name: str, database_url: str, as_json: bool) -> None:
    """Describe the connection NAME (without its secrets)."""
    response = open_bus(database_url).describe_connection(name)
    if as_json:
        emit_json(response)
        return
    keys = ("ConnectionArn", "ConnectionState", "AuthorizationType", "Description")
    fields = [(k, str(response.get(k, ""))) for k in keys]
    fields.append(("AuthParameters", str(response.get("AuthParameters", ""))))
    fields.append(("LastModifiedTime", format_time(response.get("LastModifiedTime"))))
    show_fields(name, fields)


@connections.command("list")
@click.option("--prefix", default=None)
@page_options
@database_option
@json_option
@api_errors
def list_connections(
    prefix: str | None, next_token: str | None, limit: int | None, database_url: str, as_json: bool
) -> None:
    """List the connections."""
    response = open_bus(database_url).list_connections(prefix, None, next_token, limit)
    show_page(
        response,
        as_json,
        "Connections",
        ("Name", "Authorization", "State"),
        lambda c: (str(c["Name"]), str(c["AuthorizationType"]), str(c["ConnectionState"])),
    )


@connections.command("update")
@click.argument("name")
@click.option(
    "--auth-type",
    default=None,
    type=click.Choice(["BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"]),
)
@_auth_options
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def update_connection(
    name: str,
    auth_type: str | None,
    description: str | None,
    database_url: str,
    as_json: bool,
    **auth_options: Any,
) -> None:
    """UpdateConnection: change what is given (a password alone, say), keep the rest."""
    text = json_text(auth_options["auth_json"], None, "auth parameters")
    auth: dict[str, Json] = loads(text) if text is not None else {}
    given = {
        "BasicAuthParameters": {
            "Username": auth_options["username"],
            "Password": auth_options["password"],
        },
        "ApiKeyAuthParameters": {
            "ApiKeyName": auth_options["key_name"],
            "ApiKeyValue": auth_options["key_value"],
        },
    }
    for section, values in given.items():
        present = {k: v for k, v in values.items() if v is not None}
        if present:
            auth[section] = present
    oauth: dict[str, Json] = {}
    secrets = (("ClientID", "client_id"), ("ClientSecret", "client_secret"))
    client = {k: auth_options[option] for k, option in secrets if auth_options[option]}
    if client:
        oauth["ClientParameters"] = client
    if auth_options["token_endpoint"] is not None:
        oauth["AuthorizationEndpoint"] = auth_options["token_endpoint"]
        oauth["HttpMethod"] = auth_options["token_method"]
    if oauth:
        auth["OAuthParameters"] = oauth
    response = open_bus(database_url).update_connection(name, description, auth_type, auth or None)
    if as_json:
        emit_json(response)


@connections.command("delete")
@click.argument("name")
@database_option
@api_errors
def delete_connection(name: str, database_url: str) -> None:
    """Delete the connection NAME."""
    open_bus(database_url).delete_connection(name)


@click.group("api-destinations")
def api_destinations() -> None:
    """API destinations (HTTP endpoints as targets): create, describe, list, update, delete."""


def _connection_arn(database_url: str, connection: str) -> str:
    if connection.startswith("arn:"):
        return connection
    found = open_bus(database_url).describe_connection(connection)["ConnectionArn"]
    assert isinstance(found, str)
    return found


@api_destinations.command("create")
@click.argument("name")
@click.option("--connection", required=True, help="The connection (name or ARN).")
@click.option("--endpoint", required=True, help="The URL; * marks a path parameter.")
@click.option("--method", default="POST", show_default=True, help="The HTTP method.")
@click.option("--rate-limit", type=int, default=None, help="Requests per second (default 300).")
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def create_destination(
    name: str,
    connection: str,
    endpoint: str,
    method: str,
    rate_limit: int | None,
    description: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """CreateApiDestination; print its ARN (the target ARN for rules)."""
    response = open_bus(database_url).create_api_destination(
        name,
        _connection_arn(database_url, connection),
        endpoint,
        method.upper(),
        rate_limit,
        description,
    )
    emit_json(response) if as_json else click.echo(response["ApiDestinationArn"])


@api_destinations.command("describe")
@click.argument("name")
@database_option
@json_option
@api_errors
def describe_destination(name: str, database_url: str, as_json: bool) -> None:
    """Describe the API destination NAME."""
    response = open_bus(database_url).describe_api_destination(name)
    if as_json:
        emit_json(response)
        return
    keys = (
        "ApiDestinationArn",
        "ApiDestinationState",
        "ConnectionArn",
        "InvocationEndpoint",
        "HttpMethod",
        "InvocationRateLimitPerSecond",
        "Description",
    )
    show_fields(name, [(k, str(response.get(k, ""))) for k in keys])


@api_destinations.command("list")
@click.option("--prefix", default=None)
@page_options
@database_option
@json_option
@api_errors
def list_destinations(
    prefix: str | None, next_token: str | None, limit: int | None, database_url: str, as_json: bool
) -> None:
    """List the API destinations."""
    response = open_bus(database_url).list_api_destinations(prefix, None, next_token, limit)
    show_page(
        response,
        as_json,
        "ApiDestinations",
        ("Name", "Method", "Endpoint", "Rate/s"),
        lambda d: (
            str(d["Name"]),
            str(d["HttpMethod"]),
            str(d["InvocationEndpoint"]),
            str(d["InvocationRateLimitPerSecond"]),
        ),
        fold=("Endpoint",),
    )


@api_destinations.command("update")
@click.argument("name")
@click.option("--connection", default=None)
@click.option("--endpoint", default=None)
@click.option("--method", default=None)
@click.option("--rate-limit", type=int, default=None)
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def update_destination(
    name: str,
    connection: str | None,
    endpoint: str | None,
    method: str | None,
    rate_limit: int | None,
    description: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """UpdateApiDestination: change what is given, keep the rest."""
    if not any(v is not None for v in (connection, endpoint, method, rate_limit, description)):
        raise ValidationException("give at least one of the options to change")
    response = open_bus(database_url).update_api_destination(
        name,
        description,
        None if connection is None else _connection_arn(database_url, connection),
        endpoint,
        None if method is None else method.upper(),
        rate_limit,
    )
    if as_json:
        emit_json(response)


@api_destinations.command("delete")
@click.argument("name")
@database_option
@api_errors
def delete_destination(name: str, database_url: str) -> None:
    """Delete the API destination NAME."""
    open_bus(database_url).delete_api_destination(name)
