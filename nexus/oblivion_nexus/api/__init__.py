"""api layer of Nexus."""
