# Stand-in for rasa/rasa-sdk:3.6.2 (same layout: a venv in /opt/venv on PATH, /app, user 1001).
ARG BASE_IMAGE=vecina-python:3.10
ARG BUILD_IMAGE=${BASE_IMAGE}
FROM ${BUILD_IMAGE} AS build
COPY requirements.lock /tmp/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir rasa-sdk==3.6.2 -c /tmp/requirements.lock

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
USER 1001
EXPOSE 5055
CMD ["python", "-m", "rasa_sdk", "--actions", "actions"]
