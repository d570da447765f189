"""The reference row of `make bench`: a small, typical Django REST framework poll backend.

Written the way the course's students and most tutorials write one, so that the bench
compares this service with a typical implementation on the same machine, database,
cache and load. It is deliberately plain and not tuned: Django's default middleware,
ModelSerializers and get_object_or_404, JWT authentication (djangorestframework-simplejwt),
results cached in Redis for 30 s and recounted with COUNT ... GROUP BY on a miss (so they
may be 30 s stale, which this service never is), a vote that is an ORM create guarded
by a unique constraint, served by gunicorn's sync workers. It runs in its own database
on the bench's PostgreSQL and in its own Redis database; bench/reference_figures.py
drives it.
"""
