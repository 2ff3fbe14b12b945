# A build-stage image: BASE_IMAGE plus a CA bundle that pip must trust (a TLS-inspecting proxy).
# Only build stages start from it (BUILD_IMAGE), so neither the bundle nor PIP_CERT reach a final image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER root
COPY ca-certificates.crt /etc/ssl/build-ca.crt
ENV PIP_CERT=/etc/ssl/build-ca.crt
