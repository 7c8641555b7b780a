"""The Frontdesk server: settings, database, HTTP and websocket routes, channels and the CLI."""
