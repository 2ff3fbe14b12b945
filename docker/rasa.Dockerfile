# The Rasa server with the trained model baked in. Build from the repository root:
#   docker build -f docker/rasa.Dockerfile -t vecina-rasa .
# The build fails when the content, the training data or the training fails.
# BASE_IMAGE: a Python 3.10 image. BUILD_IMAGE (defaults to BASE_IMAGE): the same Python for the
# build stage, e.g. with a CA bundle that pip must trust (docs/deployment.md, "Containers").
ARG BASE_IMAGE=python:3.10-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e .
RUN vecina kb validate && vecina kb lookups && vecina data validate
RUN vecina train && rm -rf .rasa

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 PATH=/opt/venv/bin:$PATH \
    VECINA_MEDIA_DIR=/media
RUN groupadd --gid 1001 vecina && useradd --uid 1001 --gid 1001 --create-home vecina \
    && install -d -o vecina -g vecina -m 0750 /media
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 1001
VOLUME /media
EXPOSE 5005
CMD ["vecina", "serve", "rasa"]
