# krakenpy container image, laid out like KrakenD's: the configuration lives at
# /etc/krakend/krakend.json (mount yours over it), the process runs as a non-root user.
#   docker build -t krakenpy .
#   docker run --rm -p 8080:8080 -v "$PWD/krakend.json:/etc/krakend/krakend.json:ro" krakenpy
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY krakenpy ./krakenpy
COPY schemas ./schemas
# krakenpy and every dependency as wheels, so the runtime stage needs no compiler and no network
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels krakenpy \
    && groupadd --system --gid 1000 krakend \
    && useradd --system --uid 1000 --gid krakend --no-create-home --shell /usr/sbin/nologin krakend
COPY deploy/k8s/krakend.json /etc/krakend/krakend.json
WORKDIR /etc/krakend
USER 1000:1000
EXPOSE 8080
# slim images have no curl: probe /__health with the interpreter the gateway already uses
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/__health', timeout=2).status != 200)"]
ENTRYPOINT ["krakenpy"]
CMD ["run", "-c", "/etc/krakend/krakend.json"]
