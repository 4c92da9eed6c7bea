"""Projects, members and roles across every endpoint; pages; settings."""
