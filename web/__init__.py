"""The web page: static files served by the function app, talking to the public HTTP API only."""
