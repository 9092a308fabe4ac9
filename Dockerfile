# The GPU image: sdworker built against the libtorch inside the pinned torch wheel (CUDA 13), the
# same torch and the same Debian 12 libraries as deploy/setup.sh, started as a RunPod serverless
# worker (`sdworker serve`). On RunPod the RUNPOD_* variables select the queue; elsewhere it runs
# /test_input.json once and exits, as worker-a1111's image does.
#   docker build -t sdworker:cuda --build-arg MODEL_URL=https://.../model.safetensors .
#   docker run --gpus all sdworker:cuda                       # the test job, then exit
#   docker run --gpus all -p 3000:3000 sdworker:cuda api --host 0.0.0.0   # the local A1111 API
# Without MODEL_URL the model is read from $SDWORKER_MODEL (e.g. on a network volume), else the
# tiny random-weight demo model is used (loudly announced). deploy/docker-smoke.sh builds and runs it.
ARG DEBIAN_IMAGE=debian:12
# The build stage's image: Debian 12, to which the CUDA 13.0 toolkit is added from NVIDIA's
# repository unless the image has it already (deploy/docker-smoke.sh gives such an image where
# that repository cannot be reached).
ARG BUILD_IMAGE=debian:12

FROM ${BUILD_IMAGE} AS build
# The CUDA toolkit (nvcc and headers) for the build only; the runtime libraries come with the wheel.
ARG CUDA_KEYRING=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb
RUN if [ ! -x /usr/local/cuda/bin/nvcc ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl ca-certificates \
      && curl -fsSL -o /tmp/keyring.deb "${CUDA_KEYRING}" && dpkg -i /tmp/keyring.deb && rm /tmp/keyring.deb \
      && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cuda-toolkit-13-0 \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PATH=/usr/local/cuda/bin:${PATH}
WORKDIR /src
# setup.sh installs the Debian packages and the pinned torch into /opt/venv, then builds the binary.
# The packages and torch come first, from deploy/ alone: a rebuild after a source change reuses them.
COPY deploy deploy
RUN SDW_IMAGE=1 SDW_VENV=/opt/venv SDW_SKIP_BUILD=1 deploy/setup.sh
COPY . .
RUN SDW_IMAGE=1 SDW_VENV=/opt/venv SDW_BUILD_DIR=/src/build-release deploy/setup.sh \
 && cp build-release/app/sdworker /usr/local/bin/sdworker

FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv libcaf-core0.17 libcaf-io0.17 libsimdjson14 libcpprest2.10 libpng16-16 \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libicu72 libboost-test1.74.0 libjpeg62-turbo libwebp7 libexif12 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
# The same torch the binary was built against: its lib/ holds libtorch, and its CUDA runtime,
# cuBLAS and cuDNN wheels are the libraries the binary finds through its run path.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /usr/local/bin/sdworker /usr/local/bin/sdworker
COPY --from=build /src/models/clip /usr/share/sdworker
COPY conf /etc/sdworker
COPY conf/examples/runpod_job.json /test_input.json
ARG MODEL_URL=""
RUN if [ -n "${MODEL_URL}" ]; then curl -fL -o /model.safetensors "${MODEL_URL}"; fi
# Every GPU of the pod gets an executor (and the serverless worker one job per GPU at a time).
ENV SDW_CLIP_VOCAB=/usr/share/sdworker/bpe_simple_vocab_16e6.txt.gz \
    SDWORKER_CONFIG=/etc/sdworker/sdworker.ini \
    SDWORKER_MODEL_DIR=/models \
    SDWORKER_DEVICES=auto
COPY deploy/entrypoint.sh /usr/local/bin/sdworker-entrypoint
WORKDIR /
ENTRYPOINT ["/usr/local/bin/sdworker-entrypoint"]
CMD ["serve"]
