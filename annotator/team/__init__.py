"""Setting up a team in the app: projects created and deleted, invitation links, user accounts."""
