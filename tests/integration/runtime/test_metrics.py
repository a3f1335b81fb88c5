"""Every metric the README lists is served by the services that produce it, and no service
serves another's families; a taken port never stops a service."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from essayflow_runtime.embedded import free_port
from essayflow_runtime.metrics import FAMILIES, serve_metrics

README = Path(__file__).resolve().parents[3] / "README.md"


def _served(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    names = re.findall(r"^# TYPE (essayflow_\w+)", text, re.MULTILINE)
    return {name.removesuffix("_total") for name in names if not name.endswith("_created")}


def test_each_service_serves_its_own_families_and_together_what_the_readme_lists() -> None:
    listed = {name.removesuffix("_total") for name in re.findall(r"`(essayflow_[a-z_]+)`", README.read_text())}
    assert len(listed) >= 10
    served: dict[str, set[str]] = {}
    for service in FAMILIES:
        port = free_port()
        assert serve_metrics(port, service=service)
        served[service] = _served(port)
        assert "essayflow_build_info" in served[service]
    assert set().union(*served.values()) == listed, "README and the served families differ"
    only = {
        "essayflow_batch_transitions": {"bos"},
        "essayflow_watch_streams": {"bos"},
        "essayflow_batches": {"bos"},
        "essayflow_outbox_backlog": {"bos", "cms"},
        "essayflow_els_excess_uploads_dropped": {"els"},
        "essayflow_matcher_suggestions": {"nlp"},
        "essayflow_matcher_worker_starts": {"nlp"},
    }
    for family, services in only.items():
        assert {s for s, names in served.items() if family in names} == services, family
    port = free_port()
    assert serve_metrics(port, service="bos")
    assert not serve_metrics(port, service="bos"), "a second server on the same port reports instead of raising"
