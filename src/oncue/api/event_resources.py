"""The EventBridge actions on archives, replays, connections and API destinations.

Rows of the ``AWSEvents`` table (:mod:`.events`), with the request members of the EventBridge
API reference; :class:`~oncue.bus.service.EventBus` answers each in EventBridge's shape.
"""

from __future__ import annotations

from typing import Final

from oncue.api.operations import Action, Param
from oncue.bus.service import EventBus

__all__ = ["RESOURCE_ACTIONS"]

_PAGE = (
    Param(aws="NextToken", name="next_token"),
    Param(aws="Limit", name="limit", kind="integer"),
)
_PREFIX = Param(aws="NamePrefix", name="name_prefix")
_ARCHIVE = Param(aws="ArchiveName", name="archive_name", required=True)
_REPLAY = Param(aws="ReplayName", name="replay_name", required=True)
_NAME = Param(aws="Name", name="name", required=True)
_DESCRIPTION = Param(aws="Description", name="description")
_SOURCE = Param(aws="EventSourceArn", name="event_source_arn")
_ARCHIVE_SETTINGS = (
    _DESCRIPTION,
    Param(aws="EventPattern", name="event_pattern"),
    Param(aws="RetentionDays", name="retention_days", kind="integer"),
)
_DESTINATION_SETTINGS = (
    Param(aws="InvocationEndpoint", name="invocation_endpoint"),
    Param(aws="HttpMethod", name="http_method"),
    Param(
        aws="InvocationRateLimitPerSecond", name="invocation_rate_limit_per_second", kind="integer"
    ),
)

RESOURCE_ACTIONS: Final = (
    # --- archives ----------------------------------------------------------------------
    Action(
        name="CreateArchive",
        call=EventBus.create_archive,
        params=(
            _ARCHIVE,
            Param(aws="EventSourceArn", name="event_source_arn", required=True),
            *_ARCHIVE_SETTINGS,
        ),
    ),
    Action(name="DescribeArchive", call=EventBus.describe_archive, params=(_ARCHIVE,), reads=True),
    Action(
        name="ListArchives",
        call=EventBus.list_archives,
        params=(_PREFIX, _SOURCE, Param(aws="State", name="state"), *_PAGE),
        reads=True,
    ),
    Action(
        name="UpdateArchive",
        call=EventBus.update_archive,
        params=(_ARCHIVE, *_ARCHIVE_SETTINGS),
    ),
    Action(name="DeleteArchive", call=EventBus.delete_archive, params=(_ARCHIVE,)),
    # --- replays -----------------------------------------------------------------------
    Action(
        name="StartReplay",
        call=EventBus.start_replay,
        params=(
            _REPLAY,
            _DESCRIPTION,
            Param(aws="EventSourceArn", name="event_source_arn", required=True),
            Param(aws="EventStartTime", name="event_start_time", kind="timestamp", required=True),
            Param(aws="EventEndTime", name="event_end_time", kind="timestamp", required=True),
            Param(aws="Destination", name="destination", kind="structure", required=True),
        ),
    ),
    Action(name="DescribeReplay", call=EventBus.describe_replay, params=(_REPLAY,), reads=True),
    Action(
        name="ListReplays",
        call=EventBus.list_replays,
        params=(_PREFIX, Param(aws="State", name="state"), _SOURCE, *_PAGE),
        reads=True,
    ),
    Action(name="CancelReplay", call=EventBus.cancel_replay, params=(_REPLAY,)),
    # --- connections -------------------------------------------------------------------
    Action(
        name="CreateConnection",
        call=EventBus.create_connection,
        params=(
            _NAME,
            _DESCRIPTION,
            Param(aws="AuthorizationType", name="authorization_type", required=True),
            Param(aws="AuthParameters", name="auth_parameters", kind="structure", required=True),
        ),
    ),
    Action(
        name="DescribeConnection", call=EventBus.describe_connection, params=(_NAME,), reads=True
    ),
    Action(
        name="ListConnections",
        call=EventBus.list_connections,
        params=(_PREFIX, Param(aws="ConnectionState", name="connection_state"), *_PAGE),
        reads=True,
    ),
    Action(
        name="UpdateConnection",
        call=EventBus.update_connection,
        params=(
            _NAME,
            _DESCRIPTION,
            Param(aws="AuthorizationType", name="authorization_type"),
            Param(aws="AuthParameters", name="auth_parameters", kind="structure"),
        ),
    ),
    Action(name="DeleteConnection", call=EventBus.delete_connection, params=(_NAME,)),
    # --- API destinations --------------------------------------------------------------
    Action(
        name="CreateApiDestination",
        call=EventBus.create_api_destination,
        params=(
            _NAME,
            _DESCRIPTION,
            Param(aws="ConnectionArn", name="connection_arn", required=True),
            Param(aws="InvocationEndpoint", name="invocation_endpoint", required=True),
            Param(aws="HttpMethod", name="http_method", required=True),
            _DESTINATION_SETTINGS[2],
        ),
    ),
    Action(
        name="DescribeApiDestination",
        call=EventBus.describe_api_destination,
        params=(_NAME,),
        reads=True,
    ),
    Action(
        name="ListApiDestinations",
        call=EventBus.list_api_destinations,
        params=(_PREFIX, Param(aws="ConnectionArn", name="connection_arn"), *_PAGE),
        reads=True,
    ),
    Action(
        name="UpdateApiDestination",
        call=EventBus.update_api_destination,
        params=(
            _NAME,
            _DESCRIPTION,
            Param(aws="ConnectionArn", name="connection_arn"),
            *_DESTINATION_SETTINGS,
        ),
    ),
    Action(name="DeleteApiDestination", call=EventBus.delete_api_destination, params=(_NAME,)),
)
