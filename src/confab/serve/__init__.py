"""The HTTP server: a JSON chat API with server-side sessions, request batching, metrics and a web page."""
