"""``oncue serve`` on PostgreSQL: an API-only server beside a worker, one database.

Skips without a PostgreSQL server; fails instead with ``ONCUE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading

from conftest import DOUBLE, ROLE, client, finished, start_server, stop_server
from oncue.app import App


def test_an_api_only_server_and_a_worker_share_a_postgresql_database(postgres_url: str) -> None:
    server, thread = start_server(App(postgres_url), worker=False)
    url = f"http://127.0.0.1:{server.port}"
    worker = App(postgres_url, poll_seconds=0.1)
    worker.handler("double")(lambda event: {"value": event["value"] * 2})
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    running = threading.Thread(target=loop.run_until_complete, args=(worker.run(stop),))
    running.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/readyz")
        readiness = connection.getresponse()
        checks = json.loads(readiness.read())["checks"]
        connection.close()
        assert readiness.status == 200 and checks["migrations"]["ok"] is True
        sfn = client("stepfunctions", url)
        arn = sfn.create_state_machine(name="double", definition=json.dumps(DOUBLE), roleArn=ROLE)[
            "stateMachineArn"
        ]
        execution = sfn.start_execution(stateMachineArn=arn, input='{"value": 4}')
        result = finished(sfn, execution["executionArn"], timeout=30)
        assert (result["status"], json.loads(result["output"])) == ("SUCCEEDED", {"value": 8})
        events = client("events", url)
        assert (
            events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])[
                "FailedEntryCount"
            ]
            == 0
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.join(30)
        loop.close()
        stop_server(server, thread)
