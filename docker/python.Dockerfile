# One image for the Python plugin runtime and the bench (Locust included).
#
#   plugin: python -m plugin_runtime --app plugin_runtime.examples.bench:app --listen 0.0.0.0:50051
#   bench:  python -m bench run --target-url http://host:8065 --stats-url http://host:8065/debug/stats
#
# PY_BASE defaults to the official image; scripts/docker-offline.sh writes a local
# one to .env where no registry is reachable. Debian's own python3 has no `python`
# command, so everything runs from a venv whose bin/ is first on PATH.
ARG PY_BASE=python:3.11-slim-bookworm
FROM ${PY_BASE}

# Pass-through for a PyPI mirror; empty means pip's default index.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
# Which optional dependency groups to install (bench = Locust, plots, docker SDK).
ARG EXTRAS=bench

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
RUN python3 -m venv /opt/venv

WORKDIR /app
# Dependency layer: only pyproject.toml, so source edits do not reinstall grpcio & co.
COPY pyproject.toml ./
RUN python -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = [e for e in sys.argv[1].split(",") if e]; \
print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' \
        "$EXTRAS" > /tmp/requirements.txt \
    && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
        >> /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY plugin_runtime/ ./plugin_runtime/
COPY bench/ ./bench/
# Build requirements are in the dependency layer: no download per source edit.
RUN pip install --no-deps --no-build-isolation . \
    && useradd --uid 10001 --user-group --no-create-home --no-log-init --shell /usr/sbin/nologin streambench \
    && mkdir -p /app/results && chown 10001:10001 /app/results \
    && mkdir -p /files && chmod 1777 /files

USER 10001:10001
# The commit the image was built from (compose passes `git rev-parse HEAD` in
# STREAMBENCH_COMMIT); the bench records it in every run's environment. Last,
# so a new commit rebuilds no layer.
ARG STREAMBENCH_COMMIT=""
ENV STREAMBENCH_COMMIT=${STREAMBENCH_COMMIT}
LABEL org.opencontainers.image.revision=${STREAMBENCH_COMMIT}
EXPOSE 50051 8089
CMD ["python", "-m", "plugin_runtime", "--app", "plugin_runtime.examples.bench:app", "--listen", "0.0.0.0:50051"]
