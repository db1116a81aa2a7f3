"""The client-facing job API: status URL, output links, list, cancel, delete, health, OpenAPI."""
