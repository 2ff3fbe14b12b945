# The Rasa server with the trained model baked in. Build from the repository root:
#   docker build -f docker/rasa.Dockerfile -t vecina-rasa .
FROM python:3.10-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e . && vecina kb validate && vecina kb lookups && vecina train \
    && useradd --uid 1001 --home-dir /app vecina && chown -R vecina /app/.rasa 2>/dev/null || true
USER 1001
EXPOSE 5005
CMD ["vecina", "serve", "rasa"]
