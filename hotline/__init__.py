"""The hotline command line: `hotline --help`."""
