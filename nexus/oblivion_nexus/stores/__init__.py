"""stores layer of Nexus."""
