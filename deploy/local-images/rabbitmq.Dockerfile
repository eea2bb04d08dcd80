# A local stand-in for rabbitmq:4.1-management: Debian trixie's rabbitmq-server (4.0.x, Erlang/OTP 27) with the
# management plugin, so the stack runs the major version that compose deploys.
# It keeps what compose.yaml relies on: data in /var/lib/rabbitmq (keyed by the hostname), AMQP on 5672, the
# management API on 15672, `rabbitmq-diagnostics` for the healthcheck, guest allowed from other containers.
ARG DEBIAN_IMAGE=spartakus-local/debian:trixie
FROM ${DEBIAN_IMAGE}
# No init system in a container: keep the package's maintainer scripts from trying to start the service.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && rabbitmq-plugins enable --offline rabbitmq_management >/dev/null \
    && install -d -o rabbitmq -g rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
COPY rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
# HOME holds the Erlang cookie, shared by the server and `rabbitmq-diagnostics` in the healthcheck.
ENV HOME=/var/lib/rabbitmq \
    RABBITMQ_LOGS=- \
    LANG=C.UTF-8
USER rabbitmq
EXPOSE 5672 15672
# The package's own script, not Debian's /usr/sbin wrapper, which sends the log to a file and does not pass SIGTERM
# on: this one traps it and stops the node cleanly, as the official image's does.
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
