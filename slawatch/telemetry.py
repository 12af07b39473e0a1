"""Metrics: the SDK runtime's Prometheus endpoint, and slawatch's own series recorded on it.

The record_* functions take a `temporalio.common.MetricMeter`: `workflow.metric_meter()` inside a
workflow (it skips recording while replaying, so a replayed breach is not counted twice),
`activity.metric_meter()` inside an activity, `runtime.metric_meter` elsewhere. Everything then
lands on the one endpoint the runtime serves. No I/O at import: workflows import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

if TYPE_CHECKING:
    from slawatch.settings import Settings

BREACHES = "slawatch_breaches"
BREACHES_WITHDRAWN = "slawatch_breaches_withdrawn"
NOTIFICATIONS = "slawatch_notifications"
ACKNOWLEDGEMENTS = "slawatch_acknowledgements"
PAGE_LAG = "slawatch_page_lag_seconds"
DELIVERY_FAILURES = "slawatch_delivery_failures"
ESCALATIONS_EXHAUSTED = "slawatch_escalations_exhausted"
# Scopes of a classified vendor failure (activities/vendor_errors.py): the alert rules page on
# "account" (every send refused), the dashboard shows both.
FAILURE_SCOPES = frozenset({"account", "recipient"})

# Breach-to-page lag spans "the timer fired and the SMS went out" (seconds) to "the ladder
# reached its third step" (tens of minutes); the SDK's default buckets are for milliseconds.
PAGE_LAG_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _parse_bind_address(value: str) -> str:
    """Check host:port here so a typo names the setting instead of failing inside Core."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"SLAWATCH_METRICS_BIND_ADDRESS must be host:port (e.g. 0.0.0.0:9464), got {value!r}"
        )
    return value


def runtime_for(settings: Settings) -> Runtime:
    """A runtime serving Prometheus metrics on settings.metrics_bind_address, if one is set."""
    if not settings.metrics_bind_address:
        return Runtime.default()
    address = _parse_bind_address(settings.metrics_bind_address)
    prometheus = PrometheusConfig(
        bind_address=address,
        # OpenMetrics naming (`_total`, seconds) so the dashboard's queries read naturally.
        counters_total_suffix=True,
        durations_as_seconds=True,
        histogram_bucket_overrides={PAGE_LAG: PAGE_LAG_BUCKETS},
    )
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    except Exception as err:  # Core reports bind failures as a bare RuntimeError.
        raise ValueError(
            f"SLAWATCH_METRICS_BIND_ADDRESS {address!r}: cannot serve metrics there ({err})"
        ) from err


def record_breach(meter: MetricMeter, tenant: str, severity: str, kind: str) -> None:
    """Count one missed SLA target; kind is "response" or "resolution"."""
    meter.create_counter(BREACHES, "SLA targets breached").add(
        1, {"tenant": tenant, "severity": severity, "kind": kind}
    )


def record_withdrawal(meter: MetricMeter, tenant: str, severity: str, kind: str) -> None:
    """Count one breach withdrawn: an event reported late (or a downgrade) showed the target
    was not missed after all. Already counted in slawatch_breaches; subtract for the ratio."""
    meter.create_counter(BREACHES_WITHDRAWN, "SLA breaches withdrawn by a late event").add(
        1, {"tenant": tenant, "severity": severity, "kind": kind}
    )


def record_notification(meter: MetricMeter, tenant: str, channel: str, outcome: str) -> None:
    """Count one send by channel (sms, voice, email) and outcome: sent, or failed (refused for
    the recipient or account-wide, or out of retries). The escalation workflow counts each send
    it asks for, a page sent again after an account-wide refusal included; the activity's own
    attempts (retry, duplicate, rejected, ...) are in its `notify.send` log lines."""
    meter.create_counter(NOTIFICATIONS, "Escalation notifications by channel and outcome").add(
        1, {"tenant": tenant, "channel": channel, "outcome": outcome}
    )


def record_acknowledgement(meter: MetricMeter, tenant: str, channel: str) -> None:
    """Count one acknowledgement of a breach (sms reply, voice key press, api)."""
    meter.create_counter(ACKNOWLEDGEMENTS, "Breaches acknowledged by a person").add(
        1, {"tenant": tenant, "channel": channel}
    )


def record_page_lag(
    meter: MetricMeter,
    tenant: str,
    channel: str,
    seconds: float,
    *,
    first_step: bool | None = None,
    emergency: bool | None = None,
) -> None:
    """Observe the time from a breach to a page going out on channel.

    Later ladder steps are late by design (minutes of ack windows), and a non-emergency class
    breached at night pages phones only when support hours open: `step` and `emergency` labels
    let the lag alert look at first pages of 24x7 classes alone.
    """
    if seconds != seconds:  # NaN would poison the histogram's sum for good.
        raise ValueError("page lag seconds must be a number, got NaN")
    labels = {"tenant": tenant, "channel": channel}
    if first_step is not None:
        labels["step"] = "first" if first_step else "later"
    if emergency is not None:
        labels["emergency"] = str(emergency).lower()
    # Workflow time and the sending host's clock can disagree by a little; a histogram of
    # lag has no negative buckets, so a skewed reading counts as "immediately".
    meter.create_histogram_float(PAGE_LAG, "Time from breach to page sent", "s").record(
        max(0.0, seconds), labels
    )


def record_delivery_failure(meter: MetricMeter, vendor: str, channel: str, scope: str) -> None:
    """Count one send a vendor refused, by scope: "account" (every send fails) or "recipient"."""
    if scope not in FAILURE_SCOPES:
        raise ValueError(f"delivery failure scope must be one of {sorted(FAILURE_SCOPES)}")
    meter.create_counter(DELIVERY_FAILURES, "Sends refused by a vendor, by scope").add(
        1, {"vendor": vendor, "channel": channel, "scope": scope}
    )


def record_escalation_exhausted(meter: MetricMeter, tenant: str, severity: str) -> None:
    """Count one breach whose whole ladder ran without anyone acknowledging it."""
    meter.create_counter(ESCALATIONS_EXHAUSTED, "Ladders exhausted without an ack").add(
        1, {"tenant": tenant, "severity": severity}
    )
