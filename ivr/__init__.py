"""The IVR: FastAGI server, menu engine, AGI adapter and renderers."""
