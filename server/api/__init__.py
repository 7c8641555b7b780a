"""HTTP and websocket routes: thin, logic lives in bot/, knowledge/ and server services."""
