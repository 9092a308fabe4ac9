# The GPU image: sdworker built against libtorch 2.x with CUDA.
#   docker build -t sdworker:cuda .
#   docker run --gpus all -e RUNPOD_WEBHOOK_GET_JOB=... -v /runpod-volume:/models sdworker:cuda
# Models are read from /models (a network volume) or baked in with --build-arg MODEL_URL=...
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
ENV LD_LIBRARY_PATH=/opt/libtorch/lib SDW_CLIP_VOCAB=/usr/share/sdworker/bpe_simple_vocab_16e6.txt.gz
ENTRYPOINT ["/usr/local/bin/sdworker"]
CMD ["generate", "--input", "/etc/sdworker/examples/txt2img.json", "--out", "/tmp/out"]
