# syntax=docker/dockerfile:1
# Production image: the runtime requirements only (no embedded servers), a non-root
# user, static files collected at build time. One image, three roles (docker-compose.yml):
# the API on granian (WSGI, the default command), the results stream on uvicorn (ASGI),
# and the management commands (migrate, procrastinate worker, reconcile_results). nginx in front
# makes them one origin (deploy/nginx.conf.template).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements/base.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_ENV=production \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    WEB_THREADS=4
RUN useradd --system --uid 10001 --home-dir /app app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=app:app . .
# collectstatic needs the settings to load; these build-time values are placeholders
# that never reach the final environment (each RUN has its own).
RUN SECRET_KEY=build NATIONAL_ID_HMAC_KEY=build REGISTRY_CLIENT_SECRET=build \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    REGISTRY_URL=http://localhost:8001 ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0
USER app
EXPOSE 8000
# One worker per core, a few threads each (every thread keeps one database connection).
# --respawn-failed-workers: a worker that dies is replaced without dropping the others.
# The API waits on PostgreSQL with at most WEB_THREADS - 1 threads (README, "Bounded waits").
CMD ["sh", "-c", "export DB_CONCURRENCY=${DB_CONCURRENCY:-$((WEB_THREADS - 1))}; exec granian --interface wsgi --host 0.0.0.0 --port ${PORT} --workers ${WEB_CONCURRENCY} --blocking-threads ${WEB_THREADS} --no-access-log --log-level warning --respawn-failed-workers pollsite.wsgi:application"]
