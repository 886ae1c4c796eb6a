# The two commands of the README: `make study` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.snnlab-installed

.PHONY: setup test test-browser study clean-venv

# Create the venv when missing and install into it once; re-runs do nothing
# unless pyproject.toml changed. The 'browser' extra is Playwright (the Python package only: the
# browser test drives the system's chromium, never a downloaded build).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev,cluster,browser,nir]'
	$(PY) -m ipykernel install --sys-prefix --name snnlab --display-name "Python (snnlab)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

# The unit/integration tests plus nbval over the notebooks (checked cells compared with the
# committed outputs); SNNLAB_PROFILE=smoke makes nbval run each notebook in seconds.
# SNNLAB_STORE: the notebooks' results store goes to a temporary folder, never runs/.
test: setup
	SNNLAB_PROFILE=smoke SNNLAB_STORE="$$(mktemp -d)/results.sqlite" $(PY) -m pytest tests notebooks --nbval-lax

# The explorer widgets in a real browser: JupyterLab on loopback, the notebooks in headless Chromium
# (Playwright), sliders moved, the figures' data and colours checked. Also part of `make test`; skips
# (with the reason) when chromium or playwright is missing. Screenshots: $$SNNLAB_TEST_ARTEFACTS/browser
# when set, else a temporary folder (the test prints it).
test-browser: setup
	$(PY) -m pytest -m browser -s tests/test_browser.py

study: setup
	$(VENV)/bin/snnlab run --profile quick

clean-venv:
	rm -rf $(VENV)
