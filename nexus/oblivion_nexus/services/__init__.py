"""services layer of Nexus."""
