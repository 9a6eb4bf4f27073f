"""The only operator modules doing I/O: Kubernetes, Slack, Qdrant, Nexus."""
