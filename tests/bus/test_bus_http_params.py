"""HttpParameters (pure): validation, ``$.`` values read from the event, path wildcards."""

from __future__ import annotations

import pytest

from oncue.bus.http_params import HttpParameters, build_url
from oncue.errors import ValidationException

EVENT = {"source": "shop", "detail": {"order": 42, "tenant": "acme", "tags": ["a"]}}


def test_values_starting_with_a_path_are_read_from_the_event() -> None:
    params = HttpParameters.from_api(
        {
            "PathParameterValues": ["$.detail.tenant", "$.detail.order"],
            "HeaderParameters": {"x-source": "$.source", "x-missing": "$.detail.none"},
            "QueryStringParameters": {"fixed": "value", "tag": "$.detail.tags[0]"},
        }
    )
    assert params is not None
    resolved = params.resolved(EVENT)
    assert resolved.path == ("acme", "42")
    assert resolved.headers == {"x-source": "shop", "x-missing": ""}
    assert resolved.query == {"fixed": "value", "tag": "a"}
    assert HttpParameters.from_api(None) is None


def test_wildcards_are_filled_in_order_and_escaped() -> None:
    assert build_url("https://h/t/*/orders/*", ("a b", "1/2")) == "https://h/t/a%20b/orders/1%2F2"
    assert build_url("https://h/x", ()) == "https://h/x"
    with pytest.raises(ValidationException, match="1 path wildcards but the target gives 0"):
        build_url("https://h/*", ())


@pytest.mark.parametrize(
    "document",
    [
        "text",
        {"Unknown": 1},
        {"PathParameterValues": "x"},
        {"PathParameterValues": [1]},
        {"HeaderParameters": {"a": 1}},
        {"QueryStringParameters": ["a"]},
    ],
)
def test_malformed_http_parameters_are_refused(document: object) -> None:
    with pytest.raises(ValidationException):
        HttpParameters.from_api(document)  # type: ignore[arg-type]
