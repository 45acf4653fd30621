"""Services: the rules, as plain async functions that never see Telegram."""
