# upload-download-service: stdlib only, so no pip install at all.
# Users get alpine with `docker build .`; tests pass a local base with --build-arg BASE=...
ARG BASE=python:3.12-alpine
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UDS_HOST=0.0.0.0 \
    UDS_PORT=8000 \
    UDS_STORAGE=/data

WORKDIR /app
COPY main.py ./
COPY domain/ domain/
COPY ports/ ports/
COPY adapters/ adapters/
# Precompile (the code stays root-owned and read-only for the service user)
# and create the volume directory owned by that numeric user; works on any base.
RUN python3 -m compileall -q /app && mkdir -p /data && chown 10001:10001 /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request; port = os.environ.get('UDS_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
CMD ["python3", "main.py"]
