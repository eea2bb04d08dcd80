"""The Spartakus volunteer: reads the Kubernetes API, builds a report, sends it periodically."""
