# The action server, the web chat page, the staff console and the scheduler, on the slim rasa-sdk
# image (no TensorFlow). Build from the repository root:
#   docker build -f docker/actions.Dockerfile -t vecina-actions .
# BASE_IMAGE: rasa-sdk 3.6.2 (its venv in /opt/venv). BUILD_IMAGE (defaults to BASE_IMAGE): the same
# image for the build stage, e.g. with a CA bundle that pip must trust (docs/deployment.md).
ARG BASE_IMAGE=rasa/rasa-sdk:3.6.2
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
USER root
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY docker/requirements-actions.txt ./
RUN pip install -r requirements-actions.txt
COPY pyproject.toml README.md ./
COPY vecina ./vecina
COPY rasa_sdk_plugins ./rasa_sdk_plugins
COPY actions ./actions
COPY domain ./domain
COPY kb ./kb
RUN pip install --no-deps -e .

FROM ${BASE_IMAGE}
USER root
ENV PYTHONDONTWRITEBYTECODE=1 VECINA_MEDIA_DIR=/media
RUN groupadd --gid 1001 vecina && useradd --uid 1001 --gid 1001 --create-home vecina \
    && install -d -o vecina -g vecina -m 0750 /media
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 1001
VOLUME /media
EXPOSE 5055 8080 8090
ENTRYPOINT []
CMD ["python", "-m", "rasa_sdk", "--actions", "actions", "--port", "5055"]
