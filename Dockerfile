# scm-bot: one instance per container. Build: `docker build -t scm-bot .`; two instances
# and PostgreSQL: compose.yaml. The install steps are the ones scripts/dev.py and CI run:
# the exact versions of requirements.lock with their hashes, then scm-bot itself.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/var/lib/scm-bot \
    HTTP_LISTEN=0.0.0.0 \
    HTTP_PORT=8080 \
    LOG_FORMAT=json

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/scm-bot --create-home scm-bot

WORKDIR /opt/scm-bot
COPY requirements.lock pyproject.toml README.md LICENSE ./
RUN python -m venv /opt/venv \
    && python -m pip install --quiet --require-hashes -r requirements.lock
COPY bots bots
COPY core core
COPY flows flows
COPY storage storage
COPY scm_bot scm_bot
RUN python -m pip install --quiet --no-deps . && rm -rf build *.egg-info

USER scm-bot
WORKDIR /var/lib/scm-bot
VOLUME /var/lib/scm-bot
EXPOSE 8080

# 200 while the instance reaches its database (leader or standby), 503 when it does not.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['HTTP_PORT'], timeout=4)"]

# The schema first (a no-op when it is current), then the bot; SIGTERM stops it cleanly.
CMD ["sh", "-c", "scm-bot migrate && exec scm-bot run"]
