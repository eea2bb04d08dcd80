# syntax=docker/dockerfile:1
# One image for every Spartakus role: `spartakus volunteer|ingest|writer|dlq`.
#
#   docker build -t spartakus:2.0.0 .
#   docker run --rm spartakus:2.0.0                      # lists the commands
#   docker run --rm -p 8080:8080 -e SPARTAKUS_AMQP_URL=amqp://user:pass@rabbitmq:5672/ spartakus:2.0.0 ingest
#
# The build stage installs the package and its runtime dependencies (never the `test` extra) into a virtualenv;
# the runtime stage copies only that virtualenv onto a fresh slim base, so no compiler, pip cache or source tree ships.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/spartakus
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schema/ schema/
COPY runtime/ runtime/
COPY volunteer/ volunteer/
COPY ingest/ ingest/
COPY writer/ writer/
COPY spartakus/ spartakus/
# A regular (non-editable) install, so the runtime stage needs nothing from /src. Bytecode is compiled here
# because the runtime root filesystem is read-only in Kubernetes. The last command proves the entry point loads.
RUN /opt/spartakus/bin/pip install --no-compile . \
    && /opt/spartakus/bin/python -m compileall -q /opt/spartakus/lib \
    && /opt/spartakus/bin/spartakus --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="spartakus" \
      org.opencontainers.image.description="Anonymous Kubernetes usage reporting: volunteer, ingest gateway and writers" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
RUN groupadd --system --gid 10001 spartakus \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/spartakus --create-home \
       --shell /usr/sbin/nologin spartakus
COPY --from=build /opt/spartakus /opt/spartakus
ENV PATH=/opt/spartakus/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The writer's default store, duckdb:///spartakus.duckdb, lands here; mount a volume to keep it.
WORKDIR /var/lib/spartakus
USER 10001:10001
# ingest listens on 8080; the writer's --metrics-port is chosen per deployment (9100 in compose and Kubernetes).
EXPOSE 8080
ENTRYPOINT ["spartakus"]
# Without a role the image prints the commands: every deployment names its role (ingest, writer, volunteer, dlq).
CMD ["--help"]
