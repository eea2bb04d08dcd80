# A local stand-in for python:3.11-slim: Debian bookworm's python3 (3.11) with venv, on the debootstrapped base.
# The build context holds the host's CA certificates (ca-certificates/), so that pip inside later builds trusts a
# TLS-intercepting proxy the same way the host does.
ARG DEBIAN_IMAGE=spartakus-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       ca-certificates python3 python3-venv python-is-python3 >/dev/null \
    && update-ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# pip in a virtualenv uses its own bundle unless told: point it at the system store that now holds the host's CAs.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    LANG=C.UTF-8
CMD ["python3"]
