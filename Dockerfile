# sr-serve, CPU image.  Build:  docker build -t sr-serve .
# Run:    docker run --rm -p 8000:8000 -v "$PWD/export:/models/model:ro" sr-serve
#         (extra sr-serve options go after the image name and replace the default CMD, e.g.
#          docker run ... sr-serve --model x4=/models/model --token "$TOKEN" --max-batch 8)
# GPU variant: Dockerfile.gpu (see docs/serve.md).

# ---- build stage: the same two pip commands as `make install` --------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# The PyTorch CPU index makes `torch==2.13.0` resolve to the CPU wheel (+cpu); plain PyPI would
# pull the multi-GB CUDA build. Override with --build-arg TORCH_INDEX=... for a mirror.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/venv \
    && pip install --extra-index-url "${TORCH_INDEX}" torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sr_compress ./sr_compress
RUN pip install .

# ---- runtime stage: no compiler, no sources, non-root ----------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin srserve
COPY --from=build /opt/venv /opt/venv
USER 10001
WORKDIR /home/srserve
EXPOSE 8000
# liveness through Python's stdlib (the slim image has no curl); /healthz needs no token
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["sr-serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--model", "/models/model"]
