"""The forecast store: every issued forecast and the realised Closes it is scored against.

SQLAlchemy over SQLite (a file, the default) or PostgreSQL (beside the tracking
server); the schema is created and upgraded by Alembic (``migrations/``) when a
store is opened, and a store from a newer stockcast is refused (``db.open_store``).
"""
