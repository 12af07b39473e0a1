"""Read the runtime's Prometheus endpoint: samples by (name, labels), and the ones that match."""

from __future__ import annotations

import re

import httpx

from slawatch.tools.standins.tools import free_port

__all__ = ["Samples", "free_port", "matching", "scrape"]


SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(address: str) -> Samples:
    """Samples by (name, labels) from the endpoint's text exposition format."""
    text = httpx.get(f"http://{address}/metrics", timeout=5).text
    samples: Samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(
                (k, v) for k, v in LABEL.findall(match["labels"] or "") if k != "service_name"
            )
            samples[(match["name"], labels)] = float(match["value"])
    return samples


def matching(samples: Samples, name: str, **labels: str) -> list[float]:
    """Values of every series called name whose labels include the given ones."""
    want = set(labels.items())
    return [v for (n, have), v in samples.items() if n == name and want <= have]
