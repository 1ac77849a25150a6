# Signoff's image: `signoff serve` by default; `signoff worker`, `signoff consume` (cases from a message broker)
# and `signoff db upgrade` are the other commands deploy/compose.yaml runs from it. Build from the repository root: docker build -t signoff .
# The project (signoff.yaml, its flow files and models) is mounted at /project; the database comes from
# SIGNOFF_DATABASE_URL (PostgreSQL for more than one process, see docs/how-to/scale-out.md).

# Stage 1: the wheel, built from the source tree (no compiler needed: Signoff is pure Python).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: the wheel with its dependencies and the broker clients of `signoff consume` (the brokers extra) in a slim
# Python, run by a user without privileges.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIGNOFF_PROJECT=/project/signoff.yaml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --find-links /wheels "signoff[brokers]==0.1.0" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 signoff \
    && useradd --system --uid 10001 --gid 10001 --home-dir /project --no-create-home signoff \
    && mkdir /project \
    && chown signoff /project
USER 10001:10001
WORKDIR /project
EXPOSE 8000
# /healthz answers while the process serves, whatever the database does (/readyz says whether it can reach it):
# a database outage should not mark every server as broken. The slim image has no curl; Python is there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["signoff"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
