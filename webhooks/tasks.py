"""Webhook deliveries on the job engine (polls/tasks.py says how it runs)."""

from django.conf import settings
from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.contrib.django import app

from webhooks import delivery


class DeliverySchedule(BaseRetryStrategy):
    """Retry after each of WEBHOOK_RETRY_SECONDS in turn (by default 5 s, 5 min, 30 min,
    2 h, 5 h, 10 h, 10 h: about 27 h in all), then stop."""

    def get_retry_decision(self, *, exception, job):
        schedule = settings.WEBHOOK_RETRY_SECONDS
        if not isinstance(exception, delivery.DeliveryFailed) or job.attempts >= len(schedule):
            return None
        return RetryDecision(retry_in={"seconds": schedule[job.attempts]})


# Above the lifecycle's own jobs (priority 0): a burst of polls closing together gets
# its deliveries out as its events come, not after every event of the burst.
@app.task(queue="webhooks", retry=DeliverySchedule(), pass_context=True, priority=10)
def deliver(context: JobContext, delivery_id: str) -> None:
    attempts = context.job.attempts if context.job else 0
    delivery.deliver(delivery_id, last_attempt=attempts >= len(settings.WEBHOOK_RETRY_SECONDS))
