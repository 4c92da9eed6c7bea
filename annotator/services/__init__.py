"""Services: the behaviour of Geoprompt. Views and tasks stay thin and call these."""
