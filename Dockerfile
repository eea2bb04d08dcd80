# One image for every Spartakus role: `spartakus volunteer|ingest|writer|dlq`.
#
#   docker build -t spartakus:2.0.0 .
#   docker run --rm spartakus:2.0.0                      # lists the commands
#   docker run --rm -p 8080:8080 -e SPARTAKUS_AMQP_URL=amqp://user:pass@rabbitmq:5672/ spartakus:2.0.0 ingest
#
# The build stage installs the package and its runtime dependencies (never the `test` extra) into a virtualenv and
# prunes what no role imports; the runtime stage copies only that virtualenv onto a fresh slim base, so no compiler,
# pip, cache or source tree ships. PYTHON_IMAGE names the base (a local stand-in where no registry answers:
# deploy/local-images/build.sh). No `# syntax=` line: the classic builder builds this file as well as BuildKit.

ARG PYTHON_IMAGE=python:3.11-slim

# The runtime dependencies, read from pyproject.toml: the build stage copies this file alone, so its install layer is
# rebuilt when the dependency list changes, not when another table of pyproject.toml does.
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
       > requirements.txt

FROM ${PYTHON_IMAGE} AS build
# DuckDB (about 70 MB) is the embedded store of `make run`, one writer process per file; deployments write to
# BigQuery. DUCKDB=on keeps it for a writer with --database=duckdb:///...
ARG DUCKDB=off
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/spartakus
WORKDIR /src
# Dependencies first: a source change rebuilds only the layers below this one.
COPY --from=requirements /src/requirements.txt ./
RUN /opt/spartakus/bin/pip install --no-compile -r requirements.txt
# Every package that pyproject.toml's packages.find includes: .dockerignore keeps tests, benchmarks and manifests out,
# so a new package needs no edit here.
COPY . ./
# A regular (non-editable) install, so the runtime stage needs nothing from /src. Then the pruning:
# - kubernetes' asyncio client (kubernetes.aio, about 70 MB) and aiohttp, which only it uses: the volunteer uses the
#   synchronous client;
# - pip and setuptools: nothing installs at run time.
# Bytecode is compiled here because the runtime root filesystem is read-only. The last commands prove that every
# module of the installed packages still imports and the entry point loads.
RUN /opt/spartakus/bin/pip install --no-compile --no-deps . \
    && if [ "${DUCKDB}" != "on" ]; then /opt/spartakus/bin/pip uninstall -q -y duckdb; fi \
    && /opt/spartakus/bin/pip uninstall -q -y aiohttp aiohttp-retry aiohappyeyeballs aiosignal frozenlist multidict \
       propcache yarl \
    && rm -rf /opt/spartakus/lib/python*/site-packages/kubernetes/aio \
    && /opt/spartakus/bin/pip uninstall -q -y pip setuptools \
    && /opt/spartakus/bin/python -m compileall -q /opt/spartakus/lib \
    && (cd / && /opt/spartakus/bin/python /src/deploy/check_imports.py /src/pyproject.toml $([ "${DUCKDB}" = on ] || echo duckdb)) \
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
# A writer built with DUCKDB=on keeps its default store, duckdb:///spartakus.duckdb, here; mount a volume to keep it.
WORKDIR /var/lib/spartakus
USER 10001:10001
# ingest listens on 8080; the writer's --metrics-port is chosen per deployment (9100 in compose and Kubernetes).
EXPOSE 8080
ENTRYPOINT ["spartakus"]
# Without a role the image prints the commands: every deployment names its role (ingest, writer, volunteer, dlq).
CMD ["--help"]
