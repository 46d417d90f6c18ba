# Mirrors .ci/run's install steps; the image serves the API on the embedded store, which a
# fresh /data volume fills with the demo layers on first start.
FROM python:3.11-slim
WORKDIR /srv/ecozone
COPY pyproject.toml README.md ./
COPY app ./app
COPY layers ./layers
COPY zoning ./zoning
COPY maps ./maps
RUN python -m pip install --no-cache-dir .
ENV ECOZONE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["ecozone", "serve", "--host", "0.0.0.0", "--port", "8000"]
