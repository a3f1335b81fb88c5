"""Every metric the README lists is served over HTTP; a taken port never stops a service."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from essayflow_runtime.embedded import free_port
from essayflow_runtime.metrics import serve_metrics

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_metrics_the_readme_lists_are_served() -> None:
    port = free_port()
    assert serve_metrics(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        served = response.read().decode()
    listed = set(re.findall(r"`(essayflow_[a-z_]+)`", README.read_text()))
    assert len(listed) >= 10
    for name in listed:
        assert f"# TYPE {name.removesuffix('_total')}" in served, f"{name} is in the README but not served"
    assert not serve_metrics(port), "a second server on the same port reports instead of raising"
