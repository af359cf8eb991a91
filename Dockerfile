# One image for the three processes; docker-compose.yml picks the subcommand.
# The streaming processes need no torch: only the tests and the benchmark do.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY m3e m3e
COPY sender sender
COPY channel_emulator channel_emulator
COPY receiver receiver
COPY bench bench
RUN pip install --no-cache-dir . && python -c "import m3e.phy.ldpc"
EXPOSE 50051 50052 8080
ENTRYPOINT ["m3e"]
