# Mirrors .ci/run's install steps (without the test-only packages); the image serves the API and
# the browser app on the embedded store, which a fresh /data volume fills with the demo layers.
FROM python:3.11-slim-bookworm
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nodejs npm fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/ecozone
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml README.md ./
COPY app ./app
COPY layers ./layers
COPY zoning ./zoning
COPY maps ./maps
RUN python -m pip install --no-cache-dir .
ENV ECOZONE_DATA_DIR=/data ECOZONE_ASSETS_DIR=/srv/ecozone/node_modules
VOLUME ["/data"]
EXPOSE 8000
CMD ["ecozone", "serve", "--host", "0.0.0.0", "--port", "8000"]
