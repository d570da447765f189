"""The identity app's background work (the job engine: polls/tasks.py says how it runs)."""

from procrastinate.contrib.django import app

from identity import services


@app.periodic(cron="23 * * * *", periodic_id="tokens")
@app.task(queue="housekeeping", queueing_lock="purge_expired_tokens")
def purge_expired_tokens(timestamp: int) -> int:
    """Hourly: API tokens past their expiry (TOKEN_TTL_HOURS) are refused already; this
    removes their rows."""
    return services.tokens_purge_expired()
