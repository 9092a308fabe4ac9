# The GPU image: sdworker built against libtorch 2.x with CUDA, started as a RunPod serverless
# worker (`sdworker serve`). On RunPod the RUNPOD_* variables select the queue; elsewhere it runs
# /test_input.json once and exits, as worker-a1111's image does.
#   docker build -t sdworker:cuda --build-arg MODEL_URL=https://.../model.safetensors .
#   docker run --gpus all sdworker:cuda                       # the test job, then exit
#   docker run --gpus all -p 3000:3000 sdworker:cuda api --host 0.0.0.0   # the local A1111 API
# Without MODEL_URL the model is read from $SDWORKER_MODEL (e.g. on a network volume), else the
# tiny random-weight demo model is used (loudly announced).
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

FROM ${CUDA_IMAGE} AS build
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu124/libtorch-cxx11-abi-shared-with-deps-2.4.1%2Bcu124.zip
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ccache curl unzip ca-certificates \
      libcaf-dev libsimdjson-dev libcpprest-dev libssl-dev libpng-dev zlib1g-dev \
      libboost-test-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libicu-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL -o /tmp/libtorch.zip "${LIBTORCH_URL}" && unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=/opt/libtorch \
 && ninja -C build sdworker \
 && deploy/fetch-tokenizer.sh

FROM ${CUDA_RUNTIME_IMAGE} AS runtime
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcaf-core0.17 libcaf-io0.17 libsimdjson-dev libcpprest2.10 libpng16-16 libyaml-cpp0.7 \
      libspdlog1 libfmt8 libicu70 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/libtorch/lib /opt/libtorch/lib
COPY --from=build /src/build/actors/sdworker /usr/local/bin/sdworker
COPY --from=build /src/models/clip /usr/share/sdworker
COPY conf /etc/sdworker
COPY conf/examples/runpod_job.json /test_input.json
ARG MODEL_URL=""
RUN if [ -n "${MODEL_URL}" ]; then apt-get update && apt-get install -y --no-install-recommends curl \
      && curl -fL -o /model.safetensors "${MODEL_URL}" && rm -rf /var/lib/apt/lists/*; fi
# Every GPU of the pod gets an executor (and the serverless worker one job per GPU at a time).
ENV LD_LIBRARY_PATH=/opt/libtorch/lib \
    SDW_CLIP_VOCAB=/usr/share/sdworker/bpe_simple_vocab_16e6.txt.gz \
    SDWORKER_CONFIG=/etc/sdworker/sdworker.ini \
    SDWORKER_MODEL_DIR=/models \
    SDWORKER_DEVICES=auto
COPY deploy/entrypoint.sh /usr/local/bin/sdworker-entrypoint
WORKDIR /
ENTRYPOINT ["/usr/local/bin/sdworker-entrypoint"]
CMD ["serve"]
