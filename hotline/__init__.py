"""The `hotline` command line (`hotline --help`): commands only, imported by nothing but its entry point."""
