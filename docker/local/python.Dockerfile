# Stand-in for python:3.10-slim on machines that cannot pull images: Debian bookworm with a CPython
# 3.10 built on the same release, copied into /usr/local (build-bases.sh prepares the context).
ARG BASE_IMAGE=vecina-base:bookworm
FROM ${BASE_IMAGE}
COPY python/ /usr/local/
RUN ldconfig && python3.10 -m ensurepip --default-pip \
    && ln -s python3.10 /usr/local/bin/python3 && ln -s python3.10 /usr/local/bin/python
ENV LANG=C.UTF-8
CMD ["python3"]
