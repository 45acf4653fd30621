"""Reference data shipped with the bot: Bangkok districts and volunteer zones."""
