"""The FastAGI IVR: server, call hub, AGI adapter, menu engine, renderer, prompts, handlers, call log."""
