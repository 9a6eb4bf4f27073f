"""integrations layer of Nexus."""
