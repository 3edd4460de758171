"""SQLAlchemy models, sessions and migrations. Nothing here knows of Flask."""
