# One image for every Chronos process; compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 CHRONOS_ENV=production
WORKDIR /app

COPY pyproject.toml README.md alembic.ini gunicorn.conf.py ./
COPY api ./api
COPY scheduler ./scheduler
COPY worker ./worker
COPY shared ./shared
COPY migrations ./migrations
RUN pip install . && useradd --system --no-create-home chronos

USER chronos
# The API, and the metrics of the worker (Dramatiq's 9191) and the scheduler (9192).
EXPOSE 8000 9191 9192
# gunicorn.conf.py sets gthread workers and the timeouts against slow clients.
CMD ["gunicorn", "api.app:create_app()", "--bind", "0.0.0.0:8000", "--workers", "2", "--no-control-socket"]
