"""Tests of the deployment side: container images, compose stack, Kubernetes manifests, the local supervisor."""
