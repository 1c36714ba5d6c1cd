FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY collector ./collector
COPY agent ./agent
COPY emulators ./emulators
COPY cli ./cli
RUN pip install --no-cache-dir .
RUN useradd --system --home /var/lib/wooforce wooforce && mkdir -p /var/lib/wooforce && chown wooforce /var/lib/wooforce
USER wooforce
ENV WOOFORCE_DATA_DIR=/var/lib/wooforce
ENTRYPOINT ["wooforce"]
