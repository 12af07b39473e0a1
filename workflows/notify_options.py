"""How workflows call the notification activities: timeouts and retries, one set for the ladder's
pages and the warning emails alike (workflows/dispatch.py, workflows/notices.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.notify import ACCOUNT_FAILURE, REJECTED

__all__ = [
    "ACCOUNT_FAILURE",
    "NOTIFY_RETRY",
    "NOTIFY_RETRY_ASSURED",
    "NOTIFY_SCHEDULE_TO_CLOSE",
    "NOTIFY_START_TO_CLOSE",
]

# Temporal owns retries: transient vendor errors back off up to a minute; after ten minutes of
# trying, the step is recorded as failed and the ladder goes on (never stuck on one send).
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[REJECTED],
)
# With delivery assurance (the `delivery-assurance` patch, workflows/dispatch.py) an account-wide
# refusal (expired token, geo permission, suspended account, quota) fails the activity at once,
# so the escalation can say "failing", fall back to the other vendor and retry the page itself
# without burning the ladder.
NOTIFY_RETRY_ASSURED = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[REJECTED, ACCOUNT_FAILURE],
)
NOTIFY_START_TO_CLOSE = timedelta(seconds=30)
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
