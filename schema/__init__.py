"""The Spartakus v1 report contract shared by volunteer, ingest and writer.

Nothing here imports the three component packages or any AMQP, Kubernetes or
BigQuery client: it is plain data and validation.
"""
