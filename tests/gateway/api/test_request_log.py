"""The request log's records (issue 11, finding 5): what a formatter may print, and nothing else."""

from __future__ import annotations

import logging

import pytest

from gateway.api.http.request_log import LOGGER, RequestLine
from tests.support.harness import Harness


def test_each_request_is_one_record_without_its_query_string(gateway: Harness,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    response = gateway.client.get("/graphql?variables=%7B%22phoneNumber%22%3A%22%2B4915123456789%22%7D",
                                  headers={"authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 405
    gateway.client.request("PHONE4915123456789", "/healthz/4915123456789")
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.http for r in records] == [  # type: ignore[attr-defined]
        RequestLine("GET", "/graphql", 405, records[0].http.duration_ms,  # type: ignore[attr-defined]
                    response.json()["extensions"]["audit"]["request_id"],
                    response.json()["extensions"]["audit"]["index"]),
        RequestLine("OTHER", "other", 404, records[1].http.duration_ms, None, None),  # type: ignore[attr-defined]
    ]
    text = "\n".join(r.getMessage() for r in records)
    assert "4915123456789" not in text and "variables" not in text and "Bearer" not in text
