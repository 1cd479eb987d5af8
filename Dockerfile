# syntax=docker/dockerfile:1
# One image for every Tierline process. Default: the API.
#   docker run tierline                              # uvicorn api.app:app on :8000
#   docker run tierline python -m worker             # the Temporal worker
# Configuration is environment variables only (settings.py); see docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/tierline
WORKDIR /src
# .dockerignore lets in only what `pip install .` needs.
COPY . .
# Runtime dependencies only, at the versions requirements.lock pins: the [dev] extra
# (test servers, linters) stays out.
RUN /opt/tierline/bin/pip install -c requirements.lock .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/tierline/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VAR_DIR=/var/lib/tierline
RUN groupadd --system --gid 10001 tierline \
    && useradd --system --uid 10001 --gid tierline --no-create-home \
       --home-dir /var/lib/tierline --shell /usr/sbin/nologin tierline \
    && install -d -o tierline -g tierline -m 0750 /var/lib/tierline
COPY --from=build /opt/tierline /opt/tierline
# An empty, root-owned working directory: `python -m` puts it first on sys.path.
WORKDIR /app
USER tierline:tierline
EXPOSE 8000
CMD ["uvicorn", "api.app:app", "--host", "0.0.0.0", "--port", "8000"]
