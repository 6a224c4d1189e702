# upload-download-service: stdlib only, so no pip install at all.
# Users get alpine with `docker build .`; tests pass a local base with --build-arg BASE=...
# Nothing here is alpine- or Debian-specific (no apk/apt, no adduser): any image with python3 >= 3.11,
# mkdir and chown builds it.
ARG BASE=python:3.12-alpine
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UDS_HOST=0.0.0.0 \
    UDS_PORT=8000 \
    UDS_STORAGE=/data

WORKDIR /app
COPY main.py config.py config_values.py bootstrap.py storage_setup.py ./
COPY domain/ domain/
COPY ports/ ports/
COPY adapters/ adapters/
# The web page's files, served as they are (adapters/http/static.py reads them from /app/web at start-up).
COPY web/ web/
# Precompile (the code stays root-owned and read-only for the service user, so python could not cache
# bytecode at run time) and create the volume directory owned by the numeric service user: a new named
# volume is populated from it, so the service can write there without running as root.
RUN python3 -m compileall -q /app && mkdir -p /data && chown 10001:10001 /data

# Numeric, so no passwd entry (and no base-specific adduser) is needed.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# The service handles SIGTERM itself (graceful shutdown, exit 0), also as PID 1.
STOPSIGNAL SIGTERM
# Python, not curl/wget (neither base has them); http.client, not urllib, so HTTP(S)_PROXY variables are
# never consulted. Asks the address family UDS_HOST listens on ('::' listens on IPv6 only).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 CMD ["python3", "-c", "\
import http.client, os, sys; \
host = '::1' if ':' in os.environ.get('UDS_HOST', '') else '127.0.0.1'; \
conn = http.client.HTTPConnection(host, int(os.environ.get('UDS_PORT', '8000')), timeout=4); \
conn.request('GET', '/healthz'); \
sys.exit(conn.getresponse().status != 200)"]
# Exec form: python is PID 1 and receives the stop signal directly (no shell in between). An entrypoint,
# so that flags can be appended: `docker run IMAGE --download-rate 1M`. The empty CMD says there are no
# default arguments (none is inherited from the base image's CMD either).
ENTRYPOINT ["python3", "main.py"]
CMD []
