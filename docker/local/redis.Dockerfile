# Stand-in for redis:7 (like the official image, protected mode is off: the network is the boundary).
ARG BASE_IMAGE=vecina-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && printf '#!/bin/sh\n[ "${1:-}" = redis-server ] && shift\nexec redis-server --protected-mode no "$@"\n' \
       > /usr/local/bin/docker-entrypoint.sh && chmod +x /usr/local/bin/docker-entrypoint.sh
WORKDIR /var/lib/redis
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
