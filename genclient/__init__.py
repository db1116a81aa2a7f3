"""`genctl`: a command line for the generation service, built on its public HTTP API only."""
