# `make book` builds the executed book; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HTML   := _build/html

.PHONY: book test lab bench lint clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Strict: a failing cell, a warning or an unresolved reference fails the build.
# LSTM_LIB_STATIC=1 makes every widget render as a self-contained JavaScript player.
book: $(STAMP)
	@LSTM_LIB_STATIC=1 OMP_NUM_THREADS=2 $(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going \
	  || { echo; echo "make book FAILED. Execution reports of failing chapters (if any):"; \
	       for f in $(HTML)/reports/*.err.log $(HTML)/reports/*/*.err.log; do \
	         test -f "$$f" && { echo "== $$f"; tail -n 30 "$$f"; }; done; exit 1; }
	@echo; echo "The book is built. Open: file://$(CURDIR)/$(HTML)/index.html"
	@echo "or serve it: $(PY) -m http.server -d $(HTML) 8000  (then http://localhost:8000)"

test: book
	$(PY) -m pytest

# The chapters as notebooks in JupyterLab (Jupytext opens the MyST .md files as notebooks).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab book/

bench: $(STAMP)
	$(PY) -m lstm_lib.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check lstm_lib tests book/_ext

clean:
	rm -rf _build
