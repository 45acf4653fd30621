"""Storage: SQLModel tables, the async database and migrations."""
