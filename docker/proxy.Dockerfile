# The only public entry: nginx in front of the web page, Rasa's provider webhooks and socket.io,
# and (on a separate listener) the staff console. Build from the repository root:
#   docker build -f docker/proxy.Dockerfile -t vecina-proxy .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends nginx curl \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
COPY docker/nginx.conf /etc/nginx/nginx.conf
USER www-data
EXPOSE 8080 8090
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]
