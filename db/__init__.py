"""The database: SQLAlchemy models, sessions, migrations, shared writes (the calls upsert); no Flask."""
