"""What every command needs: settings, an engine, a session factory; built on first use."""
from __future__ import annotations

import logging
from functools import cached_property

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings, load_settings
from db import migrate
from db.demo_data import demo_passwords_in_use
from db.session import make_engine, make_session_factory, transaction


class AppContext:
    def __init__(self, settings: Settings | None = None):
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        settings = self._settings or load_settings()
        logging.basicConfig(
            level=settings.app.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # Alembic narrates every connection at INFO; only its warnings matter here.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database.url, echo=self.settings.database.echo)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def menu(self):
        """The configured IVR menu, validated; a broken one stops the command with its error."""
        from ivr.menu import MenuError, configured_menu

        try:
            return configured_menu(self.settings.ivr.menu_file)
        except MenuError as exc:
            raise click.ClickException(f"IVR menu: {exc}") from None

    def require_schema(self) -> None:
        """Stop a command on an old schema, or in production with demo passwords still set."""
        if migrate.current_revision(self.engine) != migrate.head_revision():
            raise click.ClickException("the database is not at the newest schema: run `hotline db upgrade` first")
        if self.settings.production:
            with transaction(self.sessions) as session:
                weak = demo_passwords_in_use(session)
            if weak:
                raise click.ClickException(
                    f"production refuses to run while these accounts still have their demo password: {', '.join(weak)}"
                )
