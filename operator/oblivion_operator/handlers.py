"""kopf handlers: validate the spec, render the desired objects, apply them, write status."""
