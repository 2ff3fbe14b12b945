# The action server, the web chat page and the staff console, on the slim rasa-sdk image (no TensorFlow).
#   docker build -f docker/actions.Dockerfile -t vecina-actions .
FROM rasa/rasa-sdk:3.6.2
USER root
WORKDIR /app
COPY docker/requirements-actions.txt ./
RUN pip install --no-cache-dir -r requirements-actions.txt
COPY pyproject.toml README.md ./
COPY vecina ./vecina
COPY actions ./actions
COPY domain ./domain
COPY kb ./kb
RUN pip install --no-cache-dir --no-deps -e .
USER 1001
EXPOSE 5055 8080 8090
ENV SANIC_HOST=0.0.0.0
ENTRYPOINT []
CMD ["python", "-m", "rasa_sdk", "--actions", "actions", "--port", "5055"]
