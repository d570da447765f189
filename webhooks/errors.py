"""The webhooks API's errors, each declared once (pollsite/problems.py)."""

from pollsite.problems import Problem


class TargetRefused(Problem):
    status_code = 400
    default_code = "webhook_target_refused"
    default_detail = "Webhooks are delivered to public http(s) addresses only."
