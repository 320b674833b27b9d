# `make book` builds the executed book; `make test` runs every test (it builds the book and the PDF
# first). Both set up .venv first. `make pdf` builds the whole book as one PDF (needs TeX: README).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HTML   := _build/html
PDF    := _build/latex/lstm-book.pdf
# Strict: a failing cell, a warning or an unresolved reference fails the build.
# LSTM_LIB_STATIC=1 makes every widget render as a self-contained JavaScript player.
JB     := LSTM_LIB_STATIC=1 OMP_NUM_THREADS=2 $(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
REPORT := { echo; echo "Execution reports of failing chapters (if any):"; \
            for f in $(HTML)/reports/*.err.log $(HTML)/reports/*/*.err.log _build/latex/reports/*.err.log; do \
              test -f "$$f" && { echo "== $$f"; tail -n 30 "$$f"; }; done; exit 1; }

.PHONY: book book-full pdf test lab bench lint clean kernels

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# The LSTM layer's compiled loops, built once per machine and source version (about a minute on two
# cores) before any chapter runs, so that no chapter waits for them or prints the build's message.
kernels: $(STAMP)
	@$(PY) -c "from lstm_lib import _lstm_kernels as k; k.kernels() is None and print('lstm_lib: no compiled loops; the Python loops run')"

book: kernels
	@$(JB) || { echo "make book FAILED."; $(REPORT); }
	@echo; echo "The book is built. Open: file://$(CURDIR)/$(HTML)/index.html"
	@echo "or serve it: $(PY) -m http.server -d $(HTML) 8000  (then http://localhost:8000)"

# The experiments of Part V at full size (LSTM_BOOK_SIZE=full: larger models, longer runs, more seeds),
# built into _build/full so that the small book's execution cache stays as it is.
book-full: kernels
	@LSTM_BOOK_SIZE=full $(JB) --path-output _build/full || { echo "make book-full FAILED."; $(REPORT); }
	@echo; echo "The full-size book is built. Open: file://$(CURDIR)/_build/full/_build/html/index.html"

# The whole book as one PDF through LaTeX (xelatex), with the same executed chapters (shared cache).
# Then the HTML book, if built, is brought up to date so that its download menu offers this PDF.
pdf: kernels
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null || { echo "make pdf needs TeX:" \
	  "sudo apt-get install texlive-xetex texlive-latex-extra texlive-fonts-recommended latexmk fonts-freefont-otf (see README)"; exit 1; }
	@start=$$(date +%s); $(JB) --builder pdflatex || { echo "make pdf FAILED."; $(REPORT); }; \
	  test -f $(PDF) || { echo "make pdf FAILED: no $(PDF)"; exit 1; }; \
	  echo "The PDF is built in $$(( $$(date +%s) - start )) s: $(PDF)"
	@if test -f $(HTML)/index.html; then $(MAKE) --no-print-directory book; fi

test: book
	@$(MAKE) --no-print-directory pdf
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
