# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian tools the hotline uses, as command:package. Prompts are spoken by espeak-ng and
# converted by sox; the console's browser test drives Debian's Chromium.
DEBIAN_TOOLS := espeak-ng:espeak-ng sox:sox chromium:chromium chromedriver:chromium-driver
# A Chinese font, so the console's pages render (and are measured by the browser tests)
# with real glyphs rather than empty boxes.
DEBIAN_FONTS := fonts-wqy-microhei
# What WeasyPrint loads to write the industry report's PDF (text layout and font subsetting).
DEBIAN_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install system-tools test demo bench clean

help:
	@echo "make demo   install into $(VENV), create the demo database and start the hotline"
	@echo "make test   install and run the whole test suite"
	@echo "make bench  run the benchmarks under bench/"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: system-tools $(STAMP)

system-tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	for package in $(DEBIAN_FONTS) $(DEBIAN_LIBS); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

test: install
	$(BIN)/python -m pytest

demo: install
	$(BIN)/hotline db upgrade
	$(BIN)/hotline demo-data
	$(BIN)/hotline prompts build
	$(BIN)/hotline demo

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
