from __future__ import annotations

import pytest
import requests

from localserver import LocalServer, Reply


def test_local_server_answers_json_and_records_requests():
    with LocalServer(lambda request: Reply(json={"path": request.path})) as server:
        answer = requests.get(server.url + "/a?b=1", timeout=5).json()
    assert answer == {"path": "/a"}
    assert server.requests[0].query == {"b": "1"}


def test_local_server_can_truncate_an_answer():
    with LocalServer(lambda request: Reply(json={"k": "v" * 100}, truncate=20)) as server:
        response = requests.get(server.url, timeout=5)
        with pytest.raises(ValueError):
            response.json()
