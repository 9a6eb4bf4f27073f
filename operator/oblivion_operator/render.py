"""Pure rendering: spec models in, desired Kubernetes objects out. No I/O."""
