"""The service layer: every user command and query, shared by every client."""
