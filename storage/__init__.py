"""Storage: SQLModel tables, the async database, persistence and migrations."""
