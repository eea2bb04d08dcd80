"""Process plumbing every ``spartakus`` command shares, one rule a module:

- ``runtime.settings``: settings built once at the CLI, from flags and ``SPARTAKUS_*`` variables, Go durations,
  AMQP URL checks and password redaction; ``runtime.flags``: the flags several commands share (broker, HTTP
  connection bounds), declared once;
- ``runtime.logs``: one JSON object a line on stderr; ``runtime.metrics``: a component's Prometheus metrics under
  one prefix, in a registry of its own;
- ``runtime.retry``: the one retry policy (exponential waits with jitter, and when attempts end);
- ``runtime.brokers``: which of the RabbitMQ addresses in one ``--amqp-url`` a client tries next;
  ``runtime.broker_gauge``: the gauge of the node a process uses now;
- ``runtime.private_node``: a RabbitMQ node of one's own, for ``make run`` and the tests;
- ``runtime.http``: the HTTP apps' error bodies and access-log lines; ``runtime.connections``: their bounded
  connections (header size, timeouts, a connection limit that answers) and the metrics of those;
- ``runtime.container``: the memory the process' container allows;
- ``runtime.stores``: what a ``--database`` URL names, its default, and the flag types that check it;
- ``runtime.storelock``: the turns the writer and its readers take on the DuckDB store file (the gate, the writer
  lock); ``runtime.duckdb_file``: opening that file through the gate, and what DuckDB's errors mean;
- ``runtime.bigquery_client``: making the BigQuery client, against BigQuery or an emulator.

It imports no component, and no broker or Kubernetes client; ``duckdb`` only in ``runtime.duckdb_file`` and
``google`` only in ``runtime.bigquery_client``.
"""
